// `mkosi sysupdate [-- arguments…]`: systemd-sysupdate with the output directory as the transfer source
// and SysupdateDirectory= as its definitions. --transfer-source= needs systemd v257.
import { spawnSync } from "node:child_process";
import { runForeground } from "./foreground.js";
import { RuntimeError } from "./host.js";
import type { Machine } from "./machine.js";
import { requireTool } from "./tools.js";

export const MINIMUM_SYSUPDATE = 257;

export function sysupdateVersion(program: string): number | null {
  const out = spawnSync(program, ["--version"], { encoding: "utf8" });
  const match = /systemd (\d+)/.exec(out.stdout ?? "");
  return match ? Number(match[1]) : null;
}

export async function sysupdate(machine: Machine, cmdline: string[], debug: boolean): Promise<number> {
  const definitions = machine.runtime.SysupdateDirectory;
  if (!definitions)
    throw new RuntimeError("No sysupdate definitions: set SysupdateDirectory= or add mkosi.sysupdate/");
  const program = requireTool("systemd-sysupdate");
  const version = sysupdateVersion(program);
  if (version !== null && version < MINIMUM_SYSUPDATE)
    throw new RuntimeError(
      `${program} is systemd ${version}, but --transfer-source= needs ${MINIMUM_SYSUPDATE} or newer (use a newer systemd, e.g. from ToolsTree=default)`,
    );
  return runForeground(
    [program, `--definitions=${definitions}`, `--transfer-source=${machine.outputDir}`, ...cmdline],
    { debug },
  );
}
