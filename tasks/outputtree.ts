// Format=directory outputs: the merged image tree placed in the output directory, either updated from the
// previous output (when the publish record vouches for it, see published.ts) or copied whole. Loaded only
// when the publish step runs.
import { existsSync } from "node:fs";
import { rename } from "node:fs/promises";
import type { DepOutput, TaskContext } from "../engine/api.js";
import { normalizeMtime, normalizeMtimeOf } from "../formats/mtime.js";
import {
  applyTreeUpdate,
  parseSerializedListing,
  pathsUnder,
  planTreeUpdate,
  sameListing,
  serializeListing,
  type TreeUpdatePlan,
  treeListing,
} from "../formats/treeupdate.js";

export { treeSnapshot } from "../formats/treeupdate.js";

import { copyTree } from "../sandbox/overlay.js";
import { stackDirs, stackKeys, withStackReadOnly } from "./layers.js";
import type { PublishedRecord } from "./published.js";

/** The image stack's layer directories, or undefined when one of them has left the cache. */
function layerDirs(ctx: TaskContext, keys: string[]): string[] | undefined {
  try {
    const dirs = stackDirs(ctx, keys);
    return dirs.every((dir) => existsSync(dir)) ? dirs : undefined;
  } catch {
    return undefined;
  }
}

/** What an incremental update did, for the listing of its result. */
export interface Update {
  plan: TreeUpdatePlan;
  /** The previous output's listing. */
  before: Map<string, string>;
}

/**
 * Format=directory, incrementally: when the record says the previous output is the merged view of an older
 * stack of this image, and its listing shows nobody changed it since, it is moved into the staging
 * directory and brought up to date from the layers that differ between the two stacks
 * (formats/treeupdate.ts). Returns undefined (having touched nothing) when that is not possible.
 *
 * While the update runs, the output path is absent (the tree is in the staging directory, and no record
 * vouches for it): an interrupted update leaves no output and no record, never a half-updated output.
 */
async function updateTree(
  ctx: TaskContext,
  tree: DepOutput,
  epoch: number | null,
  previous: PublishedRecord | undefined,
  recorded: string | undefined,
  current: string,
  target: string,
): Promise<Update | undefined> {
  const old = previous?.tree;
  if (!previous || !old || old.scripts || old.epoch !== epoch) return undefined;
  const stack = stackKeys(tree);
  let common = 0;
  while (common < Math.min(stack.length, old.stack.length) && stack[common] === old.stack[common]) common++;
  // Nothing shared (the base layer changed): the whole tree is new anyway.
  if (common === 0) return undefined;
  const changed = layerDirs(ctx, [...old.stack.slice(common), ...stack.slice(common)]);
  if (!changed || recorded === undefined) return undefined;
  // The previous output is listed while the update is planned (both only read); nothing is changed before
  // the listing has vouched for it.
  // A listing that fails (find reports an error) vouches for nothing.
  const listing = treeListing(current, undefined, { signal: ctx.signal }).catch(() => undefined);
  const candidates = await pathsUnder(changed);
  return withStackReadOnly(ctx, tree, async (root) => {
    const plan = await planTreeUpdate(root, current, candidates);
    const before = await listing;
    if (!before || !sameListing(before, parseSerializedListing(recorded))) {
      ctx.log(`${current} was changed since it was published: copying the whole tree`);
      return undefined;
    }
    if (typeof plan === "string") {
      ctx.log(`copying the whole tree: ${plan}`);
      return undefined;
    }
    await rename(current, target);
    await applyTreeUpdate(root, target, plan, ctx.tmp, { signal: ctx.signal });
    await normalizeMtimeOf(target, plan.transfer, epoch);
    ctx.log(
      `updated ${plan.transfer.length} and removed ${plan.remove.length} entries of the previous output`,
    );
    return { plan, before };
  });
}

/**
 * The listing of the output after an update: the previous listing with the removed entries dropped and
 * the written ones (and the root, which was moved) listed again. Undefined when the update may have
 * changed entries it did not list: replacing or removing a file that has other names changes their link
 * count and change time.
 */
async function listingAfter(
  main: string,
  update: Update,
  signal: AbortSignal,
): Promise<Map<string, string> | undefined> {
  const { plan, before } = update;
  const replaced = new Set(plan.transfer);
  const removed = new Set(plan.remove);
  const after = new Map<string, string>();
  for (const [path, meta] of before) {
    const gone = removed.size > 0 && (removed.has(path) || ancestorsOf(path).some((a) => removed.has(a)));
    const [type, nlink] = meta.split(" ", 2);
    if ((gone || replaced.has(path)) && type !== "d" && Number(nlink) > 1) return undefined;
    if (!gone) after.set(path, meta);
  }
  const fresh = await treeListing(main, ["", ...plan.transfer.filter((path) => path !== ".")], { signal });
  for (const [path, meta] of fresh) after.set(path, meta);
  return after;
}

function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) out.push(path.slice(0, i));
  return out;
}

export interface PlaceTreeOptions {
  /** The top image layer. */
  tree: DepOutput;
  /** SourceDateEpoch=. */
  epoch: number | null;
  /** The previous output, where it should be (it is moved to `target` when updated). */
  current: string;
  /** Where the new tree goes (in the staging directory). */
  target: string;
  /** May the previous output be moved and updated? (Not when a later failure must leave it in place.) */
  incremental: boolean;
  /** What the record says was published at `current`, and its listing. */
  previous: PublishedRecord | undefined;
  recorded: string | undefined;
}

/** The merged image tree at `target`: the previous output updated, or a fresh copy. Returns what the
 * update did, if it was one. */
export async function placeTree(ctx: TaskContext, o: PlaceTreeOptions): Promise<Update | undefined> {
  const update = o.incremental
    ? await updateTree(ctx, o.tree, o.epoch, o.previous, o.recorded, o.current, o.target)
    : undefined;
  if (update) return update;
  await withStackReadOnly(ctx, o.tree, (root) => copyTree(root, o.target, ctx.signal));
  await normalizeMtime(o.target, o.epoch);
  return undefined;
}

/** The listing to record for the tree now at `main` (after an update, or of the whole tree). */
export async function recordListing(
  main: string,
  update: Update | undefined,
  signal: AbortSignal,
): Promise<string> {
  const listing =
    (update && (await listingAfter(main, update, signal))) ??
    (await treeListing(main, undefined, { signal }));
  return serializeListing(listing);
}
