// `mkosi coredumpctl [-- arguments…]`: the core dumps the image's runs recorded.
import { withMachine } from "../commands/machine.js";
import type { VerbContext } from "./index.js";

export const handler = (ctx: VerbContext): Promise<number> =>
  withMachine(ctx, { build: false, needsOutput: false }, async (machine) => {
    const { runJournalTool } = await import("../../runtime/journal.js");
    const { cmdline, pager, debug } = ctx.args;
    return runJournalTool({ machine, tool: "coredumpctl", cmdline, pager, debug });
  });
