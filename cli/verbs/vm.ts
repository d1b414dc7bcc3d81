// `mkosi vm [qemu arguments…]` (alias `qemu`): the image booted in a virtual machine.
import { withMachine } from "../commands/machine.js";
import type { VerbContext } from "./index.js";

export const handler = (ctx: VerbContext): Promise<number> =>
  withMachine(ctx, { build: true }, async (machine) => {
    if (machine.runtime.VirtualMachineMonitor === "vmspawn") {
      const { runVmspawn } = await import("../../runtime/vmspawn.js");
      return runVmspawn({ machine, cmdline: ctx.args.cmdline, debug: ctx.args.debug });
    }
    const { runQemu } = await import("../../runtime/qemu.js");
    return runQemu({ machine, cmdline: ctx.args.cmdline, debug: ctx.args.debug });
  });
