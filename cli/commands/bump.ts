// `mkosi bump` and `--auto-bump`: the configuration loader has already computed the next version
// (mkosi.bump's output, or mkosi.version with its last number incremented); store it in mkosi.version.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { VerbContext } from "../verbs/index.js";

export async function bumpVersion(ctx: VerbContext): Promise<number> {
  const main = ctx.config.images[ctx.config.images.length - 1];
  const next = main?.ImageVersion ?? null;
  if (!next) {
    process.stderr.write("‣ No image version to store\n");
    return 1;
  }
  const dir = ctx.args.directory ?? process.cwd();
  await writeFile(join(dir, "mkosi.version"), `${next}\n`);
  process.stderr.write(`‣ Image version is now ${next} (mkosi.version)\n`);
  return 0;
}
