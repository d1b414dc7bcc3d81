// `mkosi sandbox [command…]`: a command (by default $SHELL, else bash) in the sandbox the other verbs run
// their programs in: the host as it is, except that /usr (with the /usr-merge links and the parts of /etc
// that belong to /usr) comes from the tools tree when one is configured.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { toolsTreeArgs } from "../sandbox/run.js";
import { runForeground } from "./foreground.js";
import { RuntimeError } from "./host.js";
import { requireTool } from "./tools.js";

export interface SandboxRequest {
  /** ToolsTree= as configured: a directory, "default", or null. */
  toolsTree: string | null;
  /** The default tools tree's root when it is mounted for the command. */
  defaultTreeRoot?: string;
  certificates: boolean;
  cmdline: string[];
  debug: boolean;
}

export function sandboxArgs(request: SandboxRequest): string[] {
  const root = request.toolsTree === "default" ? request.defaultTreeRoot : request.toolsTree;
  const args = ["--dev-bind", "/", "/", "--die-with-parent"];
  if (root) {
    if (!existsSync(join(root, "usr")))
      throw new RuntimeError(`ToolsTree=${request.toolsTree}: ${root} has no /usr`);
    args.push(...toolsTreeArgs({ root, certificates: request.certificates }, "/etc"));
  }
  args.push("--chdir", process.cwd());
  const command = request.cmdline.length > 0 ? request.cmdline : [process.env.SHELL || "bash"];
  return [...args, "--", ...command];
}

export function runSandbox(request: SandboxRequest): Promise<number> {
  const bwrap = requireTool("bwrap");
  return runForeground([bwrap, ...sandboxArgs(request)], { debug: request.debug });
}
