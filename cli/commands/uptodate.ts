// Bringing the images up to date through the engine: what `mkosi build` does, and what every verb that
// uses a built image (shell, boot, vm, serve, burn, sysupdate) does first. A no-op build costs a fraction
// of a second, so those verbs always run the image the configuration describes.
import { expandKeySpecifiers } from "../../config/loader.js";
import type { VerbContext } from "../verbs/index.js";
import { buildCommand } from "./build.js";
import { commandInput } from "./input.js";

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

export interface UpToDateOptions {
  /** Arguments for the build scripts (only `mkosi build` has them; other verbs keep theirs). */
  cmdline: string[];
}

/** Configure scripts, then the build on the engine. Resolves with the build's exit status. */
export async function bringUpToDate(ctx: VerbContext, options: UpToDateOptions): Promise<number> {
  if (ctx.config.images.some((image) => image.ConfigureScripts.length > 0)) {
    const { runConfigureScripts } = await import("./configure.js");
    await runConfigureScripts(ctx.config, ctx.args.directory ?? process.cwd(), ctx.args.debug);
  }
  const duplicate = duplicateCacheKey(ctx);
  if (duplicate) {
    process.stderr.write(`‣ ${duplicate}\n`);
    return 1;
  }
  // Values that parse but would fail later (or do harm): before any work.
  const { preflight } = await import("../../tasks/preflight.js");
  const problems = preflight(ctx.config.images);
  if (problems) {
    for (const line of problems.split("\n")) process.stderr.write(`‣ ${line}\n`);
    return 1;
  }
  return buildCommand({
    ...commandInput(ctx),
    cmdline: options.cmdline,
    explain: ctx.args.explain,
    trace: ctx.args.trace ?? undefined,
    check: ctx.args.check,
  });
}
