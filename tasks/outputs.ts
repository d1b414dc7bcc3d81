// Paths of the files an image's build places in its output directory.
import { join } from "node:path";
import type { ImageView } from "./image.js";

/** The main output path first, then the others. */
export function outputPaths(image: ImageView): string[] {
  const dir = image.OutputDirectory ?? process.cwd();
  if (image.Format === "none") return [];
  return [join(dir, image.Output)];
}
