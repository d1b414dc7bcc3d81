// Shared types of the output producers.
//
// Every function in formats/ takes the image's configuration as the plain JSON object that
// `mkosi summary --json` prints for one image (keys are the setting names: `Format`, `Output`,
// `CompressOutput`, ...). `OutputConfig` names only the keys formats/ reads, all optional except `Format`,
// so that the full resolved image object (tasks' `ImageView`) and small test objects both fit.

/** Values of `Format=`. */
export const FORMATS = [
  "confext",
  "cpio",
  "directory",
  "disk",
  "esp",
  "none",
  "portable",
  "sysext",
  "tar",
  "uki",
  "oci",
  "addon",
] as const;
export type FormatName = (typeof FORMATS)[number];

/** Canonical values of `CompressOutput=` (as `summary --json` prints them). */
export const COMPRESSIONS = ["none", "zstd", "xz", "bz2", "gz", "lz4", "lzma"] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** `ManifestFormat=` values. */
export type ManifestFormat = "json" | "changelog";

/** The slice of one image's resolved config (summary --json names) that formats/ reads. */
export interface OutputConfig {
  Format: string;
  /** The image name (`main` for the top-level image); used for the default `Output=`. */
  Image?: string | null;
  Output?: string | null;
  OutputExtension?: string | null;
  /** A compression name, an alias (`zst`, `gzip`), a boolean, or null (= none). */
  CompressOutput?: string | boolean | null;
  CompressLevel?: number | null;
  OutputDirectory?: string | null;
  /** Access mode applied to output files (a number such as 0o644). */
  OutputMode?: number | null;
  ImageId?: string | null;
  ImageVersion?: string | null;
  SourceDateEpoch?: number | null;
  SplitArtifacts?: string[] | null;
  Checksum?: boolean | null;
  Sign?: boolean | null;
  Key?: string | null;
  OpenPGPTool?: string | null;
  ManifestFormat?: string[] | null;
  NSpawnSettings?: string | null;
  Distribution?: string | null;
  Release?: string | null;
  Architecture?: string | null;
  Environment?: Record<string, string> | null;
}

/** Every error formats/ raises on purpose: bad configuration, a failing tool, a refused overwrite. */
export class FormatError extends Error {
  override name = "FormatError";
}

/** Options most producers accept. */
export interface RunOptions {
  signal?: AbortSignal;
  /** Environment of the tools run (default: process.env). */
  env?: Record<string, string | undefined>;
}
