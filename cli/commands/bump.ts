// `mkosi bump` and `--auto-bump`: increment the last number of ImageVersion= and store it in
// mkosi.version (upstream semantics: "1.2.3" → "1.2.4", no version → error).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { VerbContext } from "../verbs/index.js";

export function nextVersion(version: string): string {
  const match = /^(.*?)(\d+)([^\d]*)$/.exec(version);
  if (!match) return `${version}.1`;
  const [, head, number, tail] = match;
  return `${head}${BigInt(number!) + 1n}${tail}`;
}

export async function bumpVersion(ctx: VerbContext): Promise<number> {
  const main = ctx.config.images[ctx.config.images.length - 1];
  const current = (main?.ImageVersion as string | null | undefined) ?? null;
  if (!current) {
    process.stderr.write("‣ Image version is not set, cannot bump it\n");
    return 1;
  }
  const next = nextVersion(current);
  const dir = ctx.args.directory ?? process.cwd();
  await writeFile(join(dir, "mkosi.version"), `${next}\n`);
  process.stderr.write(`‣ Bumped image version from ${current} to ${next}\n`);
  return 0;
}
