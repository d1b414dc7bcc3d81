// `mkosi build` (the default verb).
import { bringUpToDate } from "../commands/uptodate.js";
import type { VerbContext } from "./index.js";

export async function handler(ctx: VerbContext): Promise<number> {
  const code = await bringUpToDate(ctx, { cmdline: ctx.args.cmdline });
  if (code === 0 && ctx.args.autoBump) {
    const { bumpVersion } = await import("../commands/bump.js");
    await bumpVersion(ctx);
  }
  return code;
}
