// The shape of an output format's descriptor: one module per format in descriptors/, collected by
// registry.ts. A descriptor holds every fact about its format that the rest of the program asks about
// (default extension and compression, what the main output is, the programs it runs, the steps it adds
// to the pipeline's tail, its producer), so nothing else branches on `Format=`.
import type { BootConfig } from "./boot.js";
import { normalizeFormat } from "./naming.js";
import type { Producer } from "./produce.js";
import type { Compression, FormatName, OutputConfig } from "./types.js";

/** What lands at `<Output>`: a directory tree, a file, or nothing at all. */
export type OutputKind = "tree" | "file" | "none";

/** The slice of an image's config that decides which tail steps a format adds. */
export interface FormatStepConfig extends OutputConfig, BootConfig {
  Format: string;
  ManifestFormat?: string[] | null;
}

export interface FormatDescriptor {
  readonly name: FormatName;
  /** Default `OutputExtension=`, without the dot ("" when the output has none). */
  readonly extension: string;
  /** Default `CompressOutput=` (config/ resolves it; distributions may override it). */
  readonly compression: Compression;
  /** `CompressOutput=` compresses the product as a whole: `<Output>.<ext>.<comp>`. */
  readonly outerCompression: boolean;
  readonly kind: OutputKind;
  /** The image's build stops after its build scripts (no output at all, Format=none). */
  readonly buildOnly: boolean;
  /** `CleanPackageMetadata=auto` keeps the package manager's metadata (the output stays usable with
   * the package manager). */
  readonly keepsPackageMetadata: boolean;
  /** Settings the producer reads beyond the output names, compression and SourceDateEpoch= (inputs of
   * the step that runs it). */
  readonly settings?: readonly string[];
  /** Programs the producer runs (declared inputs of the step that runs it). */
  readonly tools: readonly string[];
  /** The pipeline steps after the image's last layer that this format has, by step name. */
  steps(config: FormatStepConfig): readonly string[];
  /** Loads the producer of the main output (run by the "output" step when the format has one; publish
   * places a directory itself). Absent when the format has no output. */
  readonly producer?: () => Promise<Producer>;
  /** The root partition's filesystem when the format fixes it (the 2017 raw_<fs> aliases); else the
   * distribution's. */
  readonly rootFilesystem?: string;
  /** The image holds only an ESP (Format=esp). */
  readonly espOnly?: boolean;
  /** An extension image: repart uses mkosi's definitions for this kind. */
  readonly extensionKind?: "sysext" | "confext" | "portable";
}

/** The split artifacts made from the finished image tree (the split-root step): `os-release`, and `tar`
 * unless the output is that archive already (Format=tar). */
export function rootSplitArtifacts(config: { Format: string; SplitArtifacts?: string[] | null }): string[] {
  const wanted = config.SplitArtifacts ?? [];
  return [
    ...(wanted.includes("os-release") ? ["os-release"] : []),
    ...(wanted.includes("tar") && normalizeFormat(config.Format) !== "tar" ? ["tar"] : []),
  ];
}

/** Steps every format with an output has: split artifacts of the image tree when asked, checksums/
 * signature when asked, manifests when asked, and the publishing step. `output` is prepended by formats
 * whose producer runs on the finished image. */
export function tailSteps(config: FormatStepConfig, opts: { output: boolean; checksum: boolean }): string[] {
  const steps: string[] = [];
  if (opts.output) steps.push("output");
  if (rootSplitArtifacts(config).length > 0) steps.push("split-root");
  if (opts.checksum && (config.Checksum || config.Sign)) steps.push("checksum");
  if ((config.ManifestFormat ?? []).length > 0) steps.push("manifest");
  steps.push("publish");
  return steps;
}
