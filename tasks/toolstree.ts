// Tools trees (ToolsTree=): the programs steps run in the "tools" sandbox (apt, dpkg, the systemd tools,
// scripts' view of the host) come from this tree instead of the host.
//  - A path (ToolsTree=/some/tree, or an mkosi.tools/ directory): the programs a step declares are path
//    inputs inside the tree, labelled "tools:<name>", so changing one reruns the steps that run it.
//  - The default tools tree (ToolsTree=default): an image of the same graph (group "tools"). Steps that
//    run its programs depend on its last layer (label "tools"): its output digest enters their keys, and
//    while they run its layer stack is mounted read-only as the tree.
// Without a tools tree, the declared programs are the host's ("host:<name>", see hosttools.ts).
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { DeclaredInputs, Json, NodeId, PathDeclaration, TaskContext } from "../engine/api.js";
import { mountOverlay } from "../sandbox/overlay.js";
import { programInTree } from "../sandbox/programs.js";
import type { ToolsTreeMount } from "../sandbox/run.js";
import { hostTools } from "./hosttools.js";
import type { ImageView } from "./image.js";
import { stackDirs, stackKeys } from "./layers.js";

export type ToolsTree =
  | { kind: "path"; path: string; certificates: boolean }
  | { kind: "image"; node: NodeId; certificates: boolean };

/** Dependency label of the default tools tree's last layer. */
export const TOOLS_DEP = "tools";

/** The tools tree an image's steps use: the default tools tree's node when one is planned, else the
 * configured path (ToolsTree=, mkosi.tools/), else none. */
export function toolsTreeOf(image: ImageView, defaultTree: NodeId | undefined): ToolsTree | null {
  const certificates = image.ToolsTreeCertificates !== false;
  if (defaultTree) return { kind: "image", node: defaultTree, certificates };
  if (image.ToolsTree && image.ToolsTree !== "default")
    return { kind: "path", path: image.ToolsTree, certificates };
  return null;
}

/** Where `name` resolves inside the tree (as $PATH would find it there). */
export const toolInTree = programInTree;

/** Declared inputs for the programs a step runs in the tools sandbox. */
export function toolInputs(tools: ToolsTree | null, names: string[]): DeclaredInputs {
  if (!tools) return { paths: hostTools(names) };
  const values: Record<string, Json> = { ToolsTreeCertificates: tools.certificates };
  if (tools.kind === "image") return { values, deps: { [TOOLS_DEP]: tools.node } };
  const paths = names.map((name): PathDeclaration => {
    const found = toolInTree(tools.path, name);
    return [`tools:${name}`, found ? { path: found } : null];
  });
  return { values, paths };
}

/** Merge declared inputs (tool inputs into a step's own); a kind of input neither side has stays absent. */
export function withToolInputs(own: DeclaredInputs, tools: DeclaredInputs): DeclaredInputs {
  const merged: DeclaredInputs = { ...own };
  for (const kind of ["values", "deps"] as const) {
    if (own[kind] === undefined && tools[kind] === undefined) continue;
    Object.assign(merged, { [kind]: { ...(own[kind] ?? {}), ...(tools[kind] ?? {}) } });
  }
  if (own.paths !== undefined || tools.paths !== undefined)
    merged.paths = [...(own.paths ?? []), ...(tools.paths ?? [])];
  return merged;
}

/** Run `body` with the tools tree available on the host (the default tools tree's layers mounted
 * read-only for the duration), or with undefined when the host's tools are used. */
export async function withToolsTree<T>(
  ctx: TaskContext,
  tools: ToolsTree | null,
  body: (mount: ToolsTreeMount | undefined) => Promise<T>,
): Promise<T> {
  if (!tools) return body(undefined);
  if (tools.kind === "path") return body({ root: tools.path, certificates: tools.certificates });
  const dep = ctx.deps[TOOLS_DEP];
  if (!dep)
    throw new Error(`internal error: ${ctx.id} uses the default tools tree but does not depend on it`);
  const root = join(ctx.tmp, "tools-tree");
  await mkdir(root, { recursive: true });
  const mount = await mountOverlay({ lowers: stackDirs(ctx, stackKeys(dep)), target: root });
  try {
    return await body({ root, certificates: tools.certificates });
  } finally {
    await mount.unmount();
  }
}
