// `mkosi build` (the default verb).
import { expandKeySpecifiers } from "../../config/loader.js";
import { buildCommand } from "../commands/build.js";
import { commandInput } from "../commands/input.js";
import type { VerbContext } from "./index.js";

/** Like mkosi: images that use the incremental cache must not share an expanded CacheKey=. */
function duplicateCacheKey(ctx: VerbContext): string | undefined {
  const seen = new Map<string, string>();
  for (const image of ctx.config.images) {
    if (image.Incremental === "no" || typeof image.CacheKey !== "string") continue;
    const key = expandKeySpecifiers(image.CacheKey, image, () => {});
    const other = seen.get(key);
    if (other !== undefined)
      return `Images ${other} and ${image.Image} have the same CacheKey= (${key}); add the &I specifier to tell them apart`;
    seen.set(key, image.Image);
  }
  return undefined;
}

export async function handler(ctx: VerbContext): Promise<number> {
  if (ctx.config.images.some((image) => image.ConfigureScripts.length > 0)) {
    const { runConfigureScripts } = await import("../commands/configure.js");
    await runConfigureScripts(ctx.config, ctx.args.directory ?? process.cwd(), ctx.args.debug);
  }
  const duplicate = duplicateCacheKey(ctx);
  if (duplicate) {
    process.stderr.write(`‣ ${duplicate}\n`);
    return 1;
  }
  const code = await buildCommand({
    ...commandInput(ctx),
    explain: ctx.args.explain,
    trace: ctx.args.trace ?? undefined,
    check: ctx.args.check,
  });
  if (code === 0 && ctx.args.autoBump) {
    const { bumpVersion } = await import("../commands/bump.js");
    await bumpVersion(ctx);
  }
  return code;
}
