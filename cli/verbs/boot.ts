// `mkosi boot [init arguments…]`: the image booted in a systemd-nspawn container.
import { withMachine } from "../commands/machine.js";
import type { VerbContext } from "./index.js";

export const handler = (ctx: VerbContext): Promise<number> =>
  withMachine(ctx, { build: true, needsRoot: true }, async (machine) => {
    const { runNspawn } = await import("../../runtime/nspawn.js");
    return runNspawn({ machine, boot: true, cmdline: ctx.args.cmdline, debug: ctx.args.debug });
  });
