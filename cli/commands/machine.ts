// What the verbs that use a built image share: bring it up to date through the engine (the same path as
// `mkosi build`), find the main image's output, then hand it to a runtime/ module. Errors a user can fix
// (a missing program, a setting that does not fit) are one line, no stack trace.
import { existsSync } from "node:fs";
import { checkImageConfig } from "../../config/image.js";
import { RuntimeError } from "../../runtime/host.js";
import { type Machine, machineOf } from "../../runtime/machine.js";
import { MissingToolError } from "../../runtime/tools.js";
import type { VerbContext } from "../verbs/index.js";
import { bringUpToDate } from "./uptodate.js";

export interface MachineVerbOptions {
  /** Build (or check) the image first. Verbs that only look at a machine (ssh, journalctl) do not. */
  build: boolean;
  /** The verb needs the output to exist (default true). */
  needsOutput?: boolean;
  /** The verb's program needs real root (systemd-nspawn): say so before building anything. */
  needsRoot?: boolean;
}

export function mainMachine(ctx: VerbContext): Machine {
  const main = ctx.config.images[ctx.config.images.length - 1];
  if (!main) throw new RuntimeError("no image is configured");
  return machineOf(checkImageConfig(main), ctx.args.directory ?? process.cwd());
}

/** Reports a runtime error in one line; anything else propagates (cli/main prints it too). */
export function reportRuntimeError(error: unknown): number {
  if (error instanceof RuntimeError || error instanceof MissingToolError) {
    process.stderr.write(`‣ ${error.message}\n`);
    return 1;
  }
  throw error;
}

export async function withMachine(
  ctx: VerbContext,
  options: MachineVerbOptions,
  run: (machine: Machine) => Promise<number>,
): Promise<number> {
  try {
    const machine = mainMachine(ctx);
    if (options.needsRoot && (process.getuid?.() !== 0 || process.env.MKOSI_IN_USER_NAMESPACE))
      throw new RuntimeError(`mkosi ${ctx.args.verb} needs root: systemd-nspawn cannot run unprivileged`);
    const files = ctx.config.images.flatMap((image) => image.Files);
    if (options.build) {
      if (files.length > 0) {
        const code = await bringUpToDate(ctx, { cmdline: [] });
        if (code !== 0) return code;
      } else if (!existsSync(machine.output)) {
        // Without a configuration there is nothing to build the image from: a default image is rarely
        // what was meant.
        throw new RuntimeError(
          `Image '${machine.image.Image}' has not been built yet and there is no configuration to build it from (no mkosi.conf in ${machine.configDir})`,
        );
      }
    }
    if ((options.needsOutput ?? true) && (machine.image.Format === "none" || !existsSync(machine.output)))
      throw new RuntimeError(
        machine.image.Format === "none"
          ? `Image '${machine.image.Image}' has Format=none: there is no output to ${ctx.args.verb}`
          : `Image '${machine.image.Image}' has not been built yet (no ${machine.output}); build it with 'mkosi build'`,
      );
    return await run(machine);
  } catch (error) {
    return reportRuntimeError(error);
  }
}
