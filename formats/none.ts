// Format=none: the image exists only to run its build scripts (typically to produce packages in
// $PACKAGEDIR for later images). Upstream stops the build right after the build scripts: no output file,
// no compression, checksum, signature, manifest or symlink, nothing is moved into the output directory,
// and the outputs of a previous build are NOT removed (so build scripts can be rerun without losing them).
// Clean scripts still run. The producer below therefore does nothing and reports no files; the pipeline
// should not schedule the output/post-output nodes at all for such images (see `producesOutput`).
import type { ProduceContext, ProduceResult } from "./produce.js";

/** The Format=none producer: no output. */
export async function produceNone(_ctx: ProduceContext): Promise<ProduceResult> {
  return { main: undefined, files: [] };
}
