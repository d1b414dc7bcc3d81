// Where an image's outputs go and what they are called.
import { join } from "node:path";
import type { Json } from "../engine/api.js";
import { outputNames } from "../formats/naming.js";
import { formatOf } from "../formats/registry.js";
import type { OutputConfig } from "../formats/types.js";
import type { ImageView } from "./image.js";

/** What an image's output file names derive from (formats/naming.ts), as a step's declared values. */
export function outputNaming(image: ImageView): OutputConfig & Record<string, Json> {
  return {
    Format: image.Format,
    Image: image.Image,
    Output: image.Output,
    OutputExtension: image.OutputExtension,
    CompressOutput: image.CompressOutput,
  };
}

/** SplitArtifacts= as a list (empty when unset). */
export function splitArtifacts(image: { readonly [setting: string]: unknown }): string[] {
  return (image.SplitArtifacts as string[] | undefined) ?? [];
}

/** OutputDirectory=, or mkosi.output/ (resolved by config/), else the configuration directory. */
export function outputDirectory(image: ImageView, configDir: string): string {
  return image.OutputDirectory ?? configDir;
}

/** Paths of the outputs a build of this image publishes: the main output first, then the rest that a
 * forced rebuild removes (symlink, checksums, manifests, settings). */
export function outputPaths(image: ImageView, configDir: string): string[] {
  if (formatOf(image.Format).kind === "none") return [];
  const names = outputNames(image);
  const dir = outputDirectory(image, configDir);
  const ordered = [names.withCompression, ...names.all.filter((name) => name !== names.withCompression)];
  return ordered.map((name) => join(dir, name));
}

/** Tail steps whose artifacts are output files, placed in the output directory as they are (the
 * format's main output, split artifacts); checksums cover them, publish copies them. */
export const FILE_STEPS = ["output", "repart", "split", "split-root", "addon"] as const;
