// `mkosi ssh [command…]`: a shell or command in the running VM, over ssh.
import { withMachine } from "../commands/machine.js";
import type { VerbContext } from "./index.js";

export const handler = (ctx: VerbContext): Promise<number> =>
  withMachine(ctx, { build: false, needsOutput: false }, async (machine) => {
    const { runSsh } = await import("../../runtime/ssh.js");
    return runSsh(machine, ctx.args.cmdline, ctx.args.debug);
  });
