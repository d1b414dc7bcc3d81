// [Distribution] and [Output] settings.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  defaultCompression as formatDefaultCompression,
  defaultOutputExtension as formatDefaultExtension,
} from "../../formats/naming.js";
import { LEGACY_FORMAT_NAMES, LEGACY_FORMATS } from "../../formats/registry.js";
import {
  ARCHITECTURES,
  DISTRIBUTIONS,
  DISTRO_INFO,
  MANIFEST_FORMATS,
  nativeArchitecture,
  OUTPUT_FORMATS,
  RPM_DISTRIBUTIONS,
} from "../enums.js";
import { hostDistribution, hostRelease, parseOsRelease } from "../host.js";
import { oneOf } from "../shape.js";
import {
  itemParser,
  makeSplitArtifactsParser,
  parseBoolean,
  parseCompression,
  parseCompressLevel,
  parseFilename,
  parseMode,
  parser,
  parseSectorSize,
  parseString,
  parseUuid,
} from "../values.js";
import {
  def,
  enumOf,
  list,
  matchEnum,
  matchGlob,
  matchList,
  matchString,
  matchVersion,
  path,
  pathList,
} from "./common.js";
import type { Setting } from "./types.js";

export const parseDistribution = enumOf("Distribution", DISTRIBUTIONS);
export const parseArchitecture = enumOf("Architecture", ARCHITECTURES);
const parseModernFormat = enumOf("OutputFormat", OUTPUT_FORMATS);
/** Format=: the modern values, and the 2017 README's names as deprecated aliases (kept as given, with a
 * warning naming the modern settings; formats/ plans their equivalent). */
type LegacyFormat = (typeof LEGACY_FORMAT_NAMES)[number];
const isLegacyFormat = (value: string): value is LegacyFormat =>
  (LEGACY_FORMAT_NAMES as readonly string[]).includes(value);
export const parseFormat = parser(oneOf([...OUTPUT_FORMATS, ...LEGACY_FORMAT_NAMES]), (value, old, env) => {
  if (value && isLegacyFormat(value)) {
    env.warn(LEGACY_FORMATS[value].hint);
    return value;
  }
  return parseModernFormat(value, old, env);
});
const parseManifestFormat = enumOf("ManifestFormat", MANIFEST_FORMATS);

export function defaultDistribution(): string {
  return hostDistribution() ?? "custom";
}

export function defaultRelease(distribution: string | null): string | null {
  if (distribution === null) return null;
  const host = hostDistribution();
  const rel = hostRelease();
  if (distribution === host && rel) return rel;
  return DISTRO_INFO[distribution]?.defaultRelease ?? "";
}

function needsKeyFetch(d: unknown): boolean {
  return d === "arch" || RPM_DISTRIBUTIONS.has(String(d));
}

function detectTreeDistribution(root: string): string | null {
  for (const p of ["etc/os-release", "usr/lib/os-release"]) {
    try {
      const osr = parseOsRelease(readFileSync(join(root, p), "utf8"));
      return osr.ID ?? null;
    } catch {
      // next
    }
  }
  return null;
}

/** A (lazily generated) per-process random seed shared by all images. */
let processSeed: string | undefined;
export function defaultSeed(): string {
  processSeed ??= parseUuid("random", null, { cwd: "/", env: {}, warn: () => {} }) as string;
  return processSeed;
}

export const DISTRIBUTION_SETTINGS = [
  def("Distribution", "Distribution", "universal", "value", parseDistribution, {
    short: "d",
    defaultFactory: () => defaultDistribution(),
    match: matchEnum(parseDistribution, "Distribution"),
    specifier: "d",
    choices: DISTRIBUTIONS,
    help: "Distribution to install",
    metavar: "DISTRIBUTION",
  }),
  def("Release", "Distribution", "universal", "value", parseString, {
    short: "r",
    defaultFactory: (c) => defaultRelease(c.get("distribution") as string | null),
    match: matchString,
    specifier: "r",
    help: "Distribution release to install",
    metavar: "RELEASE",
  }),
  def("Architecture", "Distribution", "universal", "value", parseArchitecture, {
    defaultFactory: () => nativeArchitecture(),
    match: matchEnum(parseArchitecture, "Architecture"),
    specifier: "a",
    choices: ARCHITECTURES,
    help: "Override the architecture of installation",
    metavar: "ARCHITECTURE",
  }),
  def("Mirror", "Distribution", "universal", "optional", parseString, {
    short: "m",
    help: "Distribution mirror to use",
    metavar: "MIRROR",
  }),
  def("LocalMirror", "Distribution", "universal", "optional", parseString, {
    help: "Use a single local, flat and plain mirror to build the image",
    metavar: "MIRROR",
  }),
  def("RepositoryKeyCheck", "Distribution", "multiversal", "value", parseBoolean, {
    default: true,
    help: "Controls signature and key checks on repositories",
    metavar: "BOOL",
  }),
  def("RepositoryKeyFetch", "Distribution", "universal", "value", parseBoolean, {
    tools: true,
    defaultFactory: (c) => {
      const tt = c.get("tools_tree");
      const dist = c.get("distribution");
      if (tt === null || tt === undefined) return hostDistribution() === "ubuntu" && needsKeyFetch(dist);
      if (tt !== "default") return detectTreeDistribution(String(tt)) === "ubuntu" && needsKeyFetch(dist);
      return c.get("tools_tree_distribution") === "ubuntu" && needsKeyFetch(dist);
    },
    help: "Controls whether distribution GPG keys can be fetched remotely",
    metavar: "BOOL",
  }),
  def("Repositories", "Distribution", "universal", "list", list(), {
    tools: true,
    match: matchList,
    help: "Repositories to use",
    metavar: "REPOS",
  }),
] as const satisfies readonly Setting[];

function defaultCompression(c: { get(d: string): unknown }): string {
  const fmt = c.get("output_format");
  const dist = String(c.get("distribution"));
  const release = String(c.get("release") ?? "");
  const compression = formatDefaultCompression(String(fmt));
  if (compression !== "zstd") return compression;
  if (
    ["centos", "rhel", "rhel-ubi", "rocky", "alma"].includes(dist) &&
    /^\d+$/.test(release) &&
    Number(release) <= 8
  )
    return "xz";
  return "zstd";
}

export function defaultOutputExtension(format: unknown): string {
  return formatDefaultExtension(String(format));
}

export const OUTPUT_SETTINGS = [
  def("Format", "Output", "local", "value", parseFormat, {
    dest: "output_format",
    long: ["format"],
    short: "t",
    default: "disk",
    match: matchEnum(parseFormat, "OutputFormat"),
    specifier: "t",
    choices: OUTPUT_FORMATS,
    help: "Output Format",
    metavar: "FORMAT",
  }),
  def(
    "ManifestFormat",
    "Output",
    "local",
    "list",
    list({
      item: itemParser(
        oneOf(MANIFEST_FORMATS),
        (v) =>
          parseManifestFormat(v, null, {
            cwd: "/",
            env: {},
            warn: () => {},
          }) as (typeof MANIFEST_FORMATS)[number],
      ),
    }),
    {
      help: "Manifest Format",
      metavar: "FORMAT",
    },
  ),
  def("Output", "Output", "local", "value", parseFilename, {
    tools: true,
    short: "o",
    specifier: "o",
    defaultFactory: (c) => {
      let out = c.image !== "main" ? c.image : ((c.get("image_id") as string | null) ?? "image");
      const v = c.get("image_version");
      if (v) out += `_${v}`;
      return out;
    },
    help: "Output name",
    metavar: "NAME",
  }),
  def("OutputExtension", "Output", "local", "value", parseFilename, {
    defaultFactory: (c) => defaultOutputExtension(c.get("output_format")),
    help: "Output extension",
    metavar: "EXTENSION",
  }),
  def("CompressOutput", "Output", "local", "value", parseCompression, {
    defaultFactory: (c) => defaultCompression(c),
    help: "Enable whole-output compression (with images or archives)",
    metavar: "ALG",
  }),
  def("CompressLevel", "Output", "inherit", "value", parseCompressLevel, {
    default: 3,
    help: "Set the compression level to use",
    metavar: "LEVEL",
  }),
  def("OutputDirectory", "Output", "universal", "optional", path({ required: false }), {
    dest: "output_dir",
    tools: true,
    short: "O",
    long: ["output-directory", "output-dir"],
    specifier: "O",
    paths: ["output"],
    help: "Output directory",
    metavar: "DIR",
  }),
  def("OutputMode", "Output", "universal", "optional", parseMode, {
    help: "Set file system access mode for image",
    metavar: "MODE",
  }),
  def("ImageVersion", "Output", "inherit", "optional", parseString, {
    match: matchVersion,
    specifier: "v",
    paths: ["version"],
    readText: true,
    help: "Set version for image",
    metavar: "VERSION",
  }),
  def("ImageId", "Output", "inherit", "optional", parseString, {
    match: matchGlob,
    specifier: "i",
    help: "Set ID for image",
    metavar: "ID",
  }),
  def("SplitArtifacts", "Output", "local", "list", makeSplitArtifactsParser(), {
    default: ["uki", "kernel", "initrd"],
    help: "Split artifacts out of the final image",
    metavar: "ARTIFACTS",
  }),
  def("RepartDirectories", "Output", "local", "list", pathList(), {
    dest: "repart_dirs",
    long: ["repart-directory", "repart-dir"],
    paths: ["repart"],
    help: "Directory containing systemd-repart partition definitions",
    metavar: "PATH",
  }),
  def("SectorSize", "Output", "inherit", "optional", parseSectorSize, {
    help: "Set the disk image sector size",
    metavar: "BYTES",
  }),
  def("Overlay", "Output", "local", "value", parseBoolean, {
    help: "Only output the additions on top of the given base trees",
    metavar: "BOOL",
  }),
  def("Seed", "Output", "local", "value", parseUuid, {
    defaultFactory: () => defaultSeed(),
    paths: ["seed"],
    readText: true,
    help: "Set the seed for systemd-repart",
    metavar: "UUID",
  }),
  def("CleanScripts", "Output", "local", "list", pathList(), {
    long: ["clean-script"],
    paths: ["clean"],
    recursivePaths: ["clean.d/*"],
    help: "Clean script to run after cleanup",
    metavar: "PATH",
  }),
] as const satisfies readonly Setting[];

export function existsAny(paths: string[]): string | null {
  for (const p of paths) if (existsSync(p)) return p;
  return null;
}
