// [Include] and [Config] settings.
import { ConfigError } from "../errors.js";
import { makePathItem } from "../paths.js";
import { str } from "../shape.js";
import { compareVersions, itemParser, parseProfile, parser } from "../values.js";
import { MKOSI_COMMIT, MKOSI_VERSION } from "../version.js";
import { def, list, matchListOf, pathList } from "./common.js";
import type { Setting } from "./types.js";

/**
 * MinimumVersion=: a version (checked against ours, the highest one wins) or commit:<rev>. Upstream
 * checks a commit against the git history of the checkout it runs from; this implementation is not
 * such a checkout but follows upstream as of MKOSI_COMMIT, whose ancestry it cannot know. The
 * requirement is accepted (the value is kept, as upstream keeps it) with a warning, unless it names
 * MKOSI_COMMIT itself. An empty assignment keeps the earlier requirement.
 */
const parseMinimumVersion = parser(str, (value, old, env) => {
  if (value === null || value === "") return typeof old === "string" ? old : null;
  if (value.startsWith("commit:")) {
    const rev = value.slice("commit:".length);
    if (rev.length < 7 || !MKOSI_COMMIT.startsWith(rev.toLowerCase()))
      env.warn(
        `Cannot verify MinimumVersion=${value}: this mkosi implements upstream mkosi ${MKOSI_VERSION} ` +
          `as of commit ${MKOSI_COMMIT.slice(0, 12)} and does not know upstream's history; ` +
          "assuming the required commit is included",
      );
    return value;
  }
  if (compareVersions(MKOSI_VERSION, value) < 0)
    throw new ConfigError(
      `mkosi ${value} or newer is required by this configuration (found ${MKOSI_VERSION})`,
    );
  if (typeof old !== "string") return value;
  return compareVersions(value, old) > 0 ? value : old;
});

export const BUILTIN_INCLUDES = [
  "mkosi-tools",
  "mkosi-initrd",
  "mkosi-vm",
  "mkosi-addon",
  "mkosi-obs",
] as const;

export const CONFIG_SETTINGS = [
  def(
    "Include",
    "Include",
    "local",
    "list",
    list({ item: makePathItem({ constants: BUILTIN_INCLUDES }), reset: false }),
    {
      tools: true,
      short: "I",
      help: "Include configuration from the specified file or directory",
      metavar: "PATH",
    },
  ),
  def("Profiles", "Config", "inherit", "list", list({ item: itemParser(str, parseProfile) }), {
    tools: true,
    long: ["profile"],
    compatNames: ["Profile"],
    match: matchListOf(parseProfile),
    help: "Build the specified profiles",
    metavar: "NAME",
  }),
  def("Dependencies", "Config", "local", "list", list(), {
    long: ["dependency"],
    help: "Specify other images that this image depends on",
    metavar: "IMAGE",
  }),
  def("MinimumVersion", "Config", "main", "optional", parseMinimumVersion, {
    help: "Specify the minimum required mkosi version",
    metavar: "VERSION",
  }),
  def("ConfigureScripts", "Config", "local", "list", pathList(), {
    long: ["configure-script"],
    paths: ["configure"],
    help: "Configure script to run before doing anything",
    metavar: "PATH",
  }),
  def("PassEnvironment", "Config", "main", "list", list({ delimiter: " " }), {
    help: "Environment variables to pass to subimages",
    metavar: "NAME",
  }),
] as const satisfies readonly Setting[];
