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
// The stack a layer was built on is not part of its output (keys would defeat the above): it is kept in a
// small record next to the engine's artifacts, `<cache>/layer-stacks/<key>`, the keys of the layers below
// it, bottom first, written while the layer is produced. A cached layer is mounted on exactly that stack
// (its lower layer is retained by the artifact, and so on down), or, if its key was produced again on
// other lower artifacts of identical content, on those.
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { DepOutput, Json, TaskContext, TaskResult } from "../engine/api.js";
import { TIMESTAMPED } from "./volatile.js";

/** Metadata every layer artifact carries: how many layers lie below it. */
export interface LayerMeta {
  depth: number;
  [key: string]: Json;
}

/** Subdirectory of a layer artifact that holds the overlay upper tree. */
export const LAYER_TREE = "tree";

/** Directory of the stack records, next to the engine's artifacts (`<cache>/artifacts/<key>`). */
function recordDir(artifact: string): string {
  return join(dirname(dirname(artifact)), "layer-stacks");
}

/** Keys of the layers the artifact `key` (at `dir`) was built on, bottom first, from its record; undefined
 * when there is no record. */
function readRecord(dir: string, key: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(join(recordDir(dir), key), "utf8");
  } catch {
    return undefined;
  }
  const value = JSON.parse(text) as { below?: unknown };
  if (!Array.isArray(value.below) || !value.below.every((k) => typeof k === "string"))
    throw new Error(`${join(recordDir(dir), key)}: not a layer stack record`);
  return value.below as string[];
}

/** Artifact keys of the full stack ending with `top`, bottom first. */
export function stackKeys(top: DepOutput | undefined): string[] {
  if (!top) return [];
  const meta = (top.meta ?? {}) as { depth?: unknown; layers?: unknown };
  // Layers stored before stack records existed list the keys below them in their metadata.
  if (Array.isArray(meta.layers)) return [...(meta.layers as string[]), top.key];
  const depth = typeof meta.depth === "number" ? meta.depth : 0;
  if (depth === 0) return [top.key];
  const below = readRecord(top.dir, top.key);
  if (!below || below.length !== depth)
    throw new Error(
      `the layer stack record of ${top.id} (${join(recordDir(top.dir), top.key)}) is missing or damaged; ` +
        "`mkosi -ff build` rebuilds the image",
    );
  return [...below, top.key];
}

/** Directories of a stack's layers, bottom first. */
export function stackDirs(ctx: Pick<TaskContext, "artifactDir">, keys: string[]): string[] {
  return keys.map((key) => join(ctx.artifactDir(key), LAYER_TREE));
}

/**
 * The stack this layer (being produced under `ctx.key` on `below`) is recorded on. A record already there
 * for the key, whose layers are all still in the cache, is kept: the key fixes the content of the layers
 * below it, so that stack is as good as `below`, and the artifact the cache may already hold for the key
 * retains it. Otherwise `below` is recorded.
 */
async function recordStack(ctx: TaskContext, prev: DepOutput, below: string[]): Promise<string[]> {
  const existing = readRecord(prev.dir, ctx.key);
  if (existing && existing.length === below.length) {
    try {
      if (stackDirs(ctx, existing).every((dir) => existsSync(dir))) return existing;
    } catch {
      // A layer of it left the cache: record the stack this run used.
    }
  }
  const dir = recordDir(prev.dir);
  await mkdir(dir, { recursive: true });
  const file = join(dir, ctx.key);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify({ below })}\n`);
  await rename(tmp, file);
  return below;
}

/** Drop what makes two runs that produce the same files differ from an upper tree: logs and caches with
 * times or stat data in them (tasks/volatile.ts; install steps drop them too, but scripts may install
 * packages or run ldconfig as well). overlayfs' own bookkeeping xattrs are left out by the fingerprint. */
export async function normalizeUpper(upper: string): Promise<void> {
  await Promise.all(TIMESTAMPED.map((path) => rm(join(upper, path), { force: true })));
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
  const below = stackKeys(prev);
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
  if (!prev) return { meta };
  const recorded = await recordStack(ctx, prev, below);
  return { meta, retain: [recorded[recorded.length - 1]!] };
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
