// `mkosi journalctl [-- arguments…]`: the journal of the image's runs.
import { withMachine } from "../commands/machine.js";
import type { VerbContext } from "./index.js";

export const handler = (ctx: VerbContext): Promise<number> =>
  withMachine(ctx, { build: false, needsOutput: false }, async (machine) => {
    const { runJournalTool } = await import("../../runtime/journal.js");
    const { cmdline, pager, debug } = ctx.args;
    return runJournalTool({ machine, tool: "journalctl", cmdline, pager, debug });
  });
