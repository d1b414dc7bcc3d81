// `mkosi burn <device>`: the disk image written to a block device.
import { withMachine } from "../commands/machine.js";
import type { VerbContext } from "./index.js";

export const handler = (ctx: VerbContext): Promise<number> =>
  withMachine(ctx, { build: true }, async (machine) => {
    const { burn } = await import("../../runtime/burn.js");
    if (ctx.args.cmdline.length > 1) {
      process.stderr.write(`‣ burn takes one device, got ${ctx.args.cmdline.join(" ")}\n`);
      return 1;
    }
    return burn(machine, ctx.args.cmdline[0]);
  });
