// `mkosi graph [--format=text|dot|json|mermaid] [--why NODE]`: the planned pipeline, what will run and why.

import { graphCommand } from "../commands/graph.js";
import { commandInput } from "../commands/input.js";
import type { GraphFormat } from "../graph/index.js";
import type { VerbContext } from "./index.js";

export async function handler(ctx: VerbContext): Promise<number> {
  // The graph shows what `build` would do, so it sees the configuration the configure scripts print.
  if (ctx.config.images.some((image) => image.ConfigureScripts.length > 0)) {
    const { runConfigureScripts } = await import("../commands/configure.js");
    await runConfigureScripts(ctx.config, ctx.args.directory ?? process.cwd(), ctx.args.debug);
  }
  return graphCommand({
    ...commandInput(ctx),
    format: ctx.args.graphFormat as GraphFormat,
    why: ctx.args.why ?? undefined,
  });
}
