// Image trees are stacks of overlayfs layers. Each tree-modifying node runs with the merged view of the
// layers below it mounted read-write, and its artifact is the overlay upper directory: storing a step
// costs what the step changed, not the size of the image.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { DepOutput, Json, TaskContext, TaskResult } from "../engine/api.js";

/** Metadata every layer artifact carries: the artifact keys of the layers below it, bottom first. */
export interface LayerMeta {
  layers: string[];
  [key: string]: Json;
}

/** Subdirectory of a layer artifact that holds the overlay upper tree. */
export const LAYER_TREE = "tree";

export function layerMeta(dep: DepOutput): LayerMeta {
  const meta = dep.meta as Partial<LayerMeta> | null;
  return { ...(meta ?? {}), layers: Array.isArray(meta?.layers) ? meta.layers : [] } as LayerMeta;
}

/** Artifact keys of the full stack ending with `top`, bottom first. */
export function stackKeys(top: DepOutput | undefined): string[] {
  if (!top) return [];
  return [...layerMeta(top).layers, top.key];
}

/** Directories of a stack's layers, bottom first. */
export function stackDirs(ctx: Pick<TaskContext, "artifactDir">, keys: string[]): string[] {
  return keys.map((key) => join(ctx.artifactDir(key), LAYER_TREE));
}

export interface LayerRun {
  /** The merged image root, read-write; writes land in this node's layer. */
  root: string;
  /** Lower layer directories, bottom first (for tools that want to read without the mount). */
  lowers: string[];
}

/**
 * Run `body` with the image (the stack below `prev`, plus this node's empty layer) mounted at a scratch
 * mount point, and return the TaskResult that records the stack and keeps the lower layers alive.
 */
export async function withLayer(
  ctx: TaskContext,
  prev: DepOutput | undefined,
  body: (layer: LayerRun) => Promise<Json | undefined>,
): Promise<TaskResult> {
  const below = stackKeys(prev);
  const lowers = stackDirs(ctx, below);
  const upper = join(ctx.out, LAYER_TREE);
  await mkdir(upper, { recursive: true });
  let extra: Json | undefined;
  if (lowers.length === 0) {
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
  }
  const meta: LayerMeta = { layers: below };
  if (extra && typeof extra === "object" && !Array.isArray(extra)) Object.assign(meta, extra);
  return { meta, retain: below };
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
  const mount = await mountOverlay({ lowers: stackDirs(ctx, stackKeys(top)), target: root });
  try {
    return await body(root);
  } finally {
    await mount.unmount();
  }
}
