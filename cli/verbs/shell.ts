// `mkosi shell [command…]`: a command (by default a shell) in the image, with systemd-nspawn.
import { withMachine } from "../commands/machine.js";
import type { VerbContext } from "./index.js";

export const handler = (ctx: VerbContext): Promise<number> =>
  withMachine(ctx, { build: true, needsRoot: true }, async (machine) => {
    const { runNspawn } = await import("../../runtime/nspawn.js");
    return runNspawn({ machine, boot: false, cmdline: ctx.args.cmdline, debug: ctx.args.debug });
  });
