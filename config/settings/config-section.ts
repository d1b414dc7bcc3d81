// [Include] and [Config] settings.
import { ConfigError } from "../errors.js";
import { makePathItem } from "../paths.js";
import { compareVersions, parseProfile } from "../values.js";
import { def, list, matchList, pathList } from "./common.js";
import type { Setting } from "./types.js";

export const MKOSI_VERSION = "26~devel";

export const BUILTIN_INCLUDES = [
  "mkosi-tools",
  "mkosi-initrd",
  "mkosi-vm",
  "mkosi-addon",
  "mkosi-obs",
] as const;

export const CONFIG_SETTINGS: Setting[] = [
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
  def("Profiles", "Config", "inherit", "list", list({ item: (v) => parseProfile(v) }), {
    tools: true,
    long: ["profile"],
    compatNames: ["Profile"],
    match: matchList,
    help: "Build the specified profiles",
    metavar: "NAME",
  }),
  def("Dependencies", "Config", "local", "list", list(), {
    long: ["dependency"],
    help: "Specify other images that this image depends on",
    metavar: "IMAGE",
  }),
  def(
    "MinimumVersion",
    "Config",
    "main",
    "optional",
    (value, old) => {
      if (value === null || value === "") return null;
      if (value.startsWith("commit:")) {
        throw new ConfigError(
          `Cannot check minimum version ${value}: mkosi is not running from a git checkout`,
        );
      }
      if (compareVersions(MKOSI_VERSION, value) < 0)
        throw new ConfigError(
          `mkosi ${value} or newer is required by this configuration (found ${MKOSI_VERSION})`,
        );
      if (typeof old === "string" && compareVersions(old, value) > 0) return old;
      return value;
    },
    { help: "Specify the minimum required mkosi version", metavar: "VERSION" },
  ),
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
];
