// Programs a step needs in a minimum version (systemd-repart, ukify, bootctl, systemd-measure, …). They
// come from the tools tree, or from the host without one; a host that is too old (Debian 12 ships
// systemd 252) fails while planning, before any work, with a message that names the tool, the version
// needed and the fix. The default tools tree does not exist yet while planning: steps check it once it is
// mounted (`checkToolsIn`).
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { PlanEnv } from "./env.js";
import type { ToolsTree } from "./toolstree.js";
import { toolInTree } from "./toolstree.js";

export interface ToolNeed {
  /** Program name as run ($PATH lookup; /usr/lib/systemd/<name> for systemd's helpers). */
  name: string;
  /** Minimum systemd version the program must come from. */
  version: number;
  /** What needs it, for the message ("Format=disk", "Bootable=yes"). */
  why: string;
}

export class ToolVersionError extends Error {
  override name = "ToolVersionError";
}

const LIB_DIRS = [
  "usr/lib/x86_64-linux-gnu/systemd",
  "usr/lib/aarch64-linux-gnu/systemd",
  "usr/lib64/systemd",
  "usr/lib/systemd",
];

/** The systemd version of the tree's systemd tools, from the name of its libsystemd-shared-<N>.so
 * (every systemd tool links against it), or undefined when there is none. */
export function systemdVersionIn(root: string): number | undefined {
  for (const dir of LIB_DIRS) {
    let names: string[];
    try {
      names = readdirSync(join(root, dir));
    } catch {
      continue;
    }
    for (const name of names) {
      const match = /^libsystemd-shared-(\d+)/.exec(name);
      if (match) return Number(match[1]);
    }
  }
  return undefined;
}

function findTool(root: string, name: string): boolean {
  if (toolInTree(root, name)) return true;
  return existsSync(join(root, "usr/lib/systemd", name));
}

/** Checks the tools in a tree (the host's "/" or a tools tree); throws ToolVersionError naming the first
 * missing or too old one. `where` names the tree in the message. */
export function checkToolsIn(root: string, needs: ToolNeed[], where: string): void {
  const version = systemdVersionIn(root);
  for (const need of needs) {
    const fix =
      where === "the host"
        ? "Set ToolsTree=default (mkosi builds a tools tree with a current systemd) or point ToolsTree= at one"
        : "Use a tools tree with a newer systemd (ToolsTree=default builds one)";
    if (!findTool(root, need.name))
      throw new ToolVersionError(
        `${need.why} needs ${need.name} (systemd ≥ ${need.version}), which ${where} does not have. ${fix}.`,
      );
    if (version !== undefined && version < need.version)
      throw new ToolVersionError(
        `${need.why} needs ${need.name} from systemd ≥ ${need.version}; ${where} has systemd ${version}. ${fix}.`,
      );
  }
}

/** Plan-time check: the host's tools without a tools tree, a tools tree directory's otherwise. The
 * default tools tree is checked by the steps once it is built. A plan that is only shown (`mkosi graph`)
 * is not checked: it shows what a build would run, wherever the tools come from. */
export function checkTools(context: { tools: ToolsTree | null; env: PlanEnv }, needs: ToolNeed[]): void {
  const { tools } = context;
  if (needs.length === 0 || context.env.inspectOnly) return;
  if (!tools) checkToolsIn("/", needs, "the host");
  else if (tools.kind === "path") checkToolsIn(tools.path, needs, `the tools tree ${tools.path}`);
}
