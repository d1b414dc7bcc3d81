// `mkosi build` (the default verb).
import { buildCommand } from "../commands/build.js";
import { commandInput } from "../commands/input.js";
import type { VerbContext } from "./index.js";

export async function handler(ctx: VerbContext): Promise<number> {
  const code = await buildCommand({
    ...commandInput(ctx),
    explain: ctx.args.explain,
    trace: ctx.args.trace ?? undefined,
  });
  if (code === 0 && ctx.args.autoBump) {
    const { bumpVersion } = await import("../commands/bump.js");
    await bumpVersion(ctx);
  }
  return code;
}
