// Running a program of the tools tree (or the host's, without one) in the "tools" sandbox, as the disk
// and boot steps do: systemd-repart, ukify, bootctl, mkfs tools. The image root, when given, is at
// /buildroot; the caller binds the directories the program reads and writes. /var/tmp is a directory of
// the step's scratch space (repart builds whole filesystems there before copying them in).
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { TaskContext } from "../engine/api.js";
import type { BindMount, ToolsTreeMount } from "../sandbox/run.js";

export interface ToolRun {
  /** The image (or any tree) to bind at /buildroot. */
  root?: string;
  rootReadOnly?: boolean;
  binds?: BindMount[];
  env?: Record<string, string>;
  captureStdout?: boolean;
  input?: string;
  /** The program is the sandbox's PID 1 (no reaper before it): /proc/self is then known while the
   * sandbox is set up, so a bind can replace one of its files. */
  asPid1?: boolean;
}

export const TOOL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/systemd";

export async function runTool(
  ctx: TaskContext,
  tools: ToolsTreeMount | undefined,
  argv: string[],
  opts: ToolRun = {},
): Promise<string> {
  const { runSandboxed } = await import("../sandbox/run.js");
  const varTmp = join(ctx.tmp, "var-tmp");
  await mkdir(varTmp, { recursive: true });
  const result = await runSandboxed(argv, {
    mode: "tools",
    tools,
    root: opts.root,
    rootReadOnly: opts.rootReadOnly,
    network: false,
    binds: [{ src: varTmp, dst: "/var/tmp" }, ...(opts.binds ?? [])],
    env: { PATH: TOOL_PATH, TMPDIR: "/var/tmp", SYSTEMD_OFFLINE: "1", ...(opts.env ?? {}) },
    captureStdout: opts.captureStdout,
    input: opts.input,
    ...(opts.asPid1 ? { extraArgs: ["--as-pid-1"] } : {}),
    signal: ctx.signal,
    onOutput: (line, stream) => ctx.log(line, stream),
  });
  return result.stdout;
}
