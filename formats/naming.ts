// Output file names, derived from the config exactly as upstream names them:
//
//   <Output>                          the symlink to the real output (or the directory itself)
//   <Output>[.<ext>]                  the output as produced by the format (`withFormat`)
//   <Output>[.<ext>][.<comp>]         after outer compression (`withCompression`), only for
//                                     tar, cpio, disk, sysext, confext, portable
//   <Output>.efi .vmlinuz .initrd .pcrs .roothash .osrelease .kernel-modules-initrd .repart.d
//                                     split artifacts
//   <Output>.nspawn .SHA256SUMS .SHA256SUMS.gpg .manifest .changelog
//   <Output>.tar[.<comp>]             SplitArtifacts=tar (compression suffix whenever CompressOutput is set)
//   <Output>.efinvramstate .tpmstate  runtime state next to the image
//
// `<ext>` is `OutputExtension=` (default from the format: raw, tar, cpio, efi or nothing) and `<comp>` is
// the compression's extension (`zst` for zstd, otherwise the compression's name).
import type { FormatDescriptor } from "./descriptor.js";
import { LEGACY_FORMATS, REGISTRY } from "./registry.js";
import {
  COMPRESSIONS,
  type Compression,
  FORMATS,
  FormatError,
  type FormatName,
  type OutputConfig,
} from "./types.js";

const BOOLEAN_TRUE = new Set(["1", "yes", "y", "true", "t", "on"]);
const BOOLEAN_FALSE = new Set(["0", "no", "n", "false", "f", "off"]);

/**
 * The canonical compression of a `CompressOutput=` value: a name (`zstd`, `xz`, `gz`, ...), an alias
 * (`zst` → zstd, `gzip` → gz), a boolean (true → zstd) or null/"" (none). Unknown strings throw.
 */
export function normalizeCompression(value: string | boolean | null | undefined): Compression {
  if (value === null || value === undefined || value === "" || value === false) return "none";
  if (value === true) return "zstd";
  const v = value.toLowerCase();
  if (v === "zst") return "zstd";
  if (v === "gzip") return "gz";
  if ((COMPRESSIONS as readonly string[]).includes(v)) return v as Compression;
  if (BOOLEAN_TRUE.has(v)) return "zstd";
  if (BOOLEAN_FALSE.has(v)) return "none";
  throw new FormatError(`Unknown compression ${value}`);
}

/** File extension of a compression, without the dot ("" for none). */
export function compressionExtension(c: Compression): string {
  if (c === "none") return "";
  return c === "zstd" ? "zst" : c;
}

function descriptorOf(format: string): FormatDescriptor | undefined {
  return (
    (REGISTRY as Record<string, FormatDescriptor | undefined>)[format] ?? LEGACY_FORMATS[format]?.descriptor
  );
}

/** Checks a `Format=` value. */
export function normalizeFormat(format: string): FormatName {
  if ((FORMATS as readonly string[]).includes(format)) return format as FormatName;
  const legacy = LEGACY_FORMATS[format];
  if (legacy) return legacy.descriptor.name;
  throw new FormatError(`Unknown Format=${format} (expected one of: ${FORMATS.join(", ")})`);
}

/** Default `OutputExtension=` of a format, without the dot ("" when the output has none). */
export function defaultOutputExtension(format: string): string {
  return descriptorOf(format)?.extension ?? "";
}

/** Whether `CompressOutput=` compresses the produced file as a whole (an "outer" compression). */
export function usesOuterCompression(format: string): boolean {
  return descriptorOf(format)?.outerCompression ?? false;
}

/** Default `CompressOutput=` of a format (config/ normally resolves it already). */
export function defaultCompression(format: string): Compression {
  return descriptorOf(format)?.compression ?? "none";
}

/**
 * Default `Output=`: the subimage name if not `main`, else `ImageId=` or `image`; then `_<ImageVersion>`
 * when a version is set.
 */
export function defaultOutput(cfg: Pick<OutputConfig, "Image" | "ImageId" | "ImageVersion">): string {
  let out = cfg.Image && cfg.Image !== "main" ? cfg.Image : cfg.ImageId || "image";
  if (cfg.ImageVersion) out += `_${cfg.ImageVersion}`;
  return out;
}

/** All the names one image's build may place in the output directory. */
export interface OutputNames {
  /** `<Output>`: the symlink name, and the directory itself for Format=directory/oci. */
  output: string;
  /** `<Output>[.<ext>]`: the format's product before outer compression. */
  withFormat: string;
  /** `<Output>[.<ext>][.<comp>]`: the final main output. */
  withCompression: string;
  /** The compression applied to `withFormat` to give `withCompression` ("none" when none). */
  outerCompression: Compression;
  splitUki: string;
  splitKernel: string;
  splitInitrd: string;
  splitPcrs: string;
  splitRoothash: string;
  splitOsRelease: string;
  splitKernelModulesInitrd: string;
  splitRepartDefinitions: string;
  nspawn: string;
  checksum: string;
  signature: string;
  manifest: string;
  changelog: string;
  /** SplitArtifacts=tar. */
  tar: string;
  efiNvramState: string;
  tpmState: string;
  /** Every name above (deduplicated, in the order listed), for cleaning and overwrite checks. */
  all: string[];
}

/** Computes every output name of an image from its config. */
export function outputNames(cfg: OutputConfig): OutputNames {
  const output = cfg.Output || defaultOutput(cfg);
  if (output.includes("/")) throw new FormatError(`Output=${output} must be a file name, not a path`);
  const ext = cfg.OutputExtension ?? defaultOutputExtension(cfg.Format);
  const withFormat = ext ? `${output}.${ext}` : output;
  const compression = normalizeCompression(cfg.CompressOutput);
  const outerCompression = usesOuterCompression(cfg.Format) ? compression : "none";
  const withCompression =
    outerCompression !== "none" ? `${withFormat}.${compressionExtension(outerCompression)}` : withFormat;
  const tar = compression !== "none" ? `${output}.tar.${compressionExtension(compression)}` : `${output}.tar`;
  const names = {
    output,
    withFormat,
    withCompression,
    outerCompression,
    splitUki: `${output}.efi`,
    splitKernel: `${output}.vmlinuz`,
    splitInitrd: `${output}.initrd`,
    splitPcrs: `${output}.pcrs`,
    splitRoothash: `${output}.roothash`,
    splitOsRelease: `${output}.osrelease`,
    splitKernelModulesInitrd: `${output}.kernel-modules-initrd`,
    splitRepartDefinitions: `${output}.repart.d`,
    nspawn: `${output}.nspawn`,
    checksum: `${output}.SHA256SUMS`,
    signature: `${output}.SHA256SUMS.gpg`,
    manifest: `${output}.manifest`,
    changelog: `${output}.changelog`,
    tar,
    efiNvramState: `${output}.efinvramstate`,
    tpmState: `${output}.tpmstate`,
  };
  const all = [
    ...new Set(
      Object.entries(names)
        .filter(([k]) => k !== "outerCompression")
        .map(([, v]) => v),
    ),
  ];
  return { ...names, all };
}

/**
 * Whether `name` (an entry of the output directory) is something an image with these names produces:
 * one of `all`, or `<Output>.<anything>` (split partitions such as `<Output>.root-x86-64.raw`).
 */
export function isOutputName(names: OutputNames, name: string): boolean {
  return names.all.includes(name) || name.startsWith(`${names.output}.`);
}
