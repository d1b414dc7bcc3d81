// `mkosi sysupdate [-- arguments…]`: systemd-sysupdate fed from the output directory.
import { withMachine } from "../commands/machine.js";
import type { VerbContext } from "./index.js";

export const handler = (ctx: VerbContext): Promise<number> =>
  withMachine(ctx, { build: true }, async (machine) => {
    const { sysupdate } = await import("../../runtime/sysupdate.js");
    return sysupdate(machine, ctx.args.cmdline, ctx.args.debug);
  });
