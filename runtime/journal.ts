// `mkosi journalctl` and `mkosi coredumpctl`: the host's tools pointed at the image (its persistent
// journal) or at the ForwardJournal= destination, with the arguments after the verb appended.
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { runForeground } from "./foreground.js";
import { RuntimeError } from "./host.js";
import type { Machine } from "./machine.js";
import { requireTool } from "./tools.js";

export interface JournalRequest {
  machine: Machine;
  tool: "journalctl" | "coredumpctl";
  cmdline: string[];
  pager: boolean;
  debug: boolean;
}

/** Where the journal of the machine's runs is: the forwarded journal, else the image itself. */
export function journalSource(machine: Machine): string[] {
  const forwarded = machine.runtime.ForwardJournal;
  if (forwarded && existsSync(forwarded))
    return statSync(forwarded).isDirectory() ? [`--directory=${forwarded}`] : [`--file=${forwarded}`];
  if (!existsSync(machine.output))
    throw new RuntimeError(
      `Output ${machine.output} does not exist, so there is no journal to inspect: build and boot the image first`,
    );
  if (machine.image.Format === "directory") {
    // journalctl --root finds nothing without a persistent journal directory: say so plainly.
    if (!existsSync(join(machine.output, "var/log/journal")))
      throw new RuntimeError(
        `${machine.output} has no persistent journal (/var/log/journal): boot the image with it, or set ForwardJournal=`,
      );
    return [`--root=${machine.output}`];
  }
  if (machine.image.Format === "disk") return [`--image=${machine.output}`];
  throw new RuntimeError(
    `Format=${machine.image.Format} has no journal to inspect (directory or disk images do)`,
  );
}

export function runJournalTool(request: JournalRequest): Promise<number> {
  const program = requireTool(request.tool);
  const args = [program, ...journalSource(request.machine)];
  if (!request.pager) args.push("--no-pager");
  args.push(...request.cmdline);
  return runForeground(args, { debug: request.debug });
}
