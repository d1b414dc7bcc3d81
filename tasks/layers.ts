// Image trees are stacks of overlayfs layers. Each tree-modifying node runs with the merged view of the
// layers below it mounted read-write, and its artifact is the overlay upper directory: storing a step
// costs what the step changed, not the size of the image.
//
// A layer's identity is content, never the keys of the layers below it. Its output digest (computed by
// the engine from the artifact) covers:
//   - its upper tree: file contents, types, modes, ownership, xattrs (overlayfs whiteouts and opaque
//     markers included), symlink targets, device numbers;
//   - its metadata: how many layers lie below it, and what the step reports (installed packages, …);
//   - the output digest of the layer directly below it (the one artifact it retains), which in turn
//     covers everything below: a Merkle chain over the whole stack.
// It deliberately does not cover timestamps (mtime/ctime/atime: SourceDateEpoch= normalises the published
// output, not the layers), inode numbers and hard-link structure, overlayfs' own bookkeeping xattrs
// (`overlay.origin` file handles of the lower inodes a file was copied up from, `overlay.impure`, …: the
// fingerprint leaves them out), logs and caches that record times or stat data (dpkg and apt logs,
// ldconfig's aux-cache: removed from every upper tree, see normalizeUpper), or the artifact keys of the
// layers below. So a lower layer that reruns and yields identical content leaves every layer above it
// cached, even one that has to rerun for its own reasons.
//
// The stack a layer was built on is not part of its output (keys would defeat the above): the artifact
// retains the layer directly below it (TaskResult.retain), which retains the one below it, and so on. A
// cached layer is mounted on exactly that chain, which the engine stores with the artifact (and the remote
// cache carries with it), so no layer outlives the ones it was made on.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { DepOutput, Json, TaskContext, TaskResult } from "../engine/api.js";
import { removeIfPresent, TIMESTAMPED } from "./volatile.js";

/** Metadata every layer artifact carries: how many layers lie below it. */
export interface LayerMeta {
  depth: number;
  [key: string]: Json;
}

/** Subdirectory of a layer artifact that holds the overlay upper tree. */
export const LAYER_TREE = "tree";

/** Artifact keys of the full stack ending with `top`, bottom first: down the chain of retained layers. */
export function stackKeys(ctx: Pick<TaskContext, "retained">, top: DepOutput | undefined): string[] {
  if (!top) return [];
  // (Layers of the earlier format, which listed the keys below them, are keyed by other code: never here.)
  const meta = (top.meta ?? {}) as { depth?: unknown };
  const depth = typeof meta.depth === "number" ? meta.depth : 0;
  const keys = [top.key];
  for (let key = top.key; keys.length <= depth; ) {
    const below = ctx.retained(key);
    if (below.length !== 1)
      throw new Error(
        `the layer ${key} of ${top.id} retains ${below.length} artifacts, not the one layer below it; ` +
          "`mkosi -ff build` rebuilds the image",
      );
    key = below[0]!;
    keys.unshift(key);
  }
  return keys;
}

/** Directories of a stack's layers, bottom first. */
export function stackDirs(ctx: Pick<TaskContext, "artifactDir">, keys: string[]): string[] {
  return keys.map((key) => join(ctx.artifactDir(key), LAYER_TREE));
}

/** Drop what makes two runs that produce the same files differ from an upper tree: logs and caches with
 * times or stat data in them (tasks/volatile.ts; install steps drop them too, but scripts may install
 * packages or run ldconfig as well). overlayfs' own bookkeeping xattrs are left out by the fingerprint. */
export async function normalizeUpper(upper: string): Promise<void> {
  await Promise.all(TIMESTAMPED.map((path) => removeIfPresent(join(upper, path))));
}

export interface LayerRun {
  /** The merged image root, read-write; writes land in this node's layer. */
  root: string;
  /** Lower layer directories, bottom first (for tools that want to read without the mount). */
  lowers: string[];
}

/**
 * Run `body` with the image (the stack below `prev`, plus this node's empty layer) mounted at a scratch
 * mount point, and return the TaskResult that records the stack and keeps the layer below alive.
 */
export async function withLayer(
  ctx: TaskContext,
  prev: DepOutput | undefined,
  body: (layer: LayerRun) => Promise<Json | undefined>,
): Promise<TaskResult> {
  const below = stackKeys(ctx, prev);
  const lowers = stackDirs(ctx, below);
  const upper = join(ctx.out, LAYER_TREE);
  await mkdir(upper, { recursive: true });
  let extra: Json | undefined;
  if (!prev) {
    // The first layer has nothing below it: write straight into the artifact.
    extra = await body({ root: upper, lowers });
  } else {
    const work = join(ctx.tmp, "overlay-work");
    const root = join(ctx.tmp, "root");
    await Promise.all([mkdir(work, { recursive: true }), mkdir(root, { recursive: true })]);
    const { mountOverlay } = await import("../sandbox/overlay.js");
    const mount = await mountOverlay({ lowers, upper, work, target: root });
    try {
      extra = await body({ root, lowers });
    } finally {
      await mount.unmount();
    }
    await normalizeUpper(upper);
  }
  const meta: LayerMeta = { depth: below.length };
  if (extra && typeof extra === "object" && !Array.isArray(extra)) Object.assign(meta, extra);
  return prev ? { meta, retain: [prev.key] } : { meta };
}

/** Mount the full stack ending at `top` read-only and run `body` on it. */
export async function withStackReadOnly<T>(
  ctx: TaskContext,
  top: DepOutput,
  body: (root: string) => Promise<T>,
): Promise<T> {
  const root = join(ctx.tmp, "image");
  await mkdir(root, { recursive: true });
  const { mountOverlay } = await import("../sandbox/overlay.js");
  const mount = await mountOverlay({ lowers: stackDirs(ctx, stackKeys(ctx, top)), target: root });
  try {
    return await body(root);
  } finally {
    await mount.unmount();
  }
}
