// Incremental update of a directory output. When a tree `target` is known to equal an old view of an image
// and the new view (`root`) differs from the old one only at a known set of candidate paths (the entries of
// the overlay layers that changed, whiteouts included), `target` is brought up to date by looking at those
// paths alone: everything else is identical in both views.
//
// Why the candidate set is enough: in an overlay stack, what the merged view shows at a path depends only
// on the entries at that path and at its ancestors in the layers. Layers the two stacks share contribute
// the same entries to both views, so a path can differ only if some changed layer (one that was in the old
// stack but not the new one, or the other way round) has an entry at it or at one of its ancestors. An
// ancestor that is a plain directory in a changed layer changes nothing below it, so the cases left are:
//   - the path itself is a candidate: compare and transfer it;
//   - an ancestor changed type, appeared or vanished: the whole subtree is copied or removed;
//   - an ancestor directory is opaque in a changed layer (it hides, or used to hide, the shared layers'
//     entries): the ancestor is a candidate directory, and its children lists are compared, so entries
//     that appear or vanish are found; entries in both lists are candidates themselves or unchanged.
// Candidate sets from upper directories are closed under ancestors (overlayfs copies parents up).
//
// Entries are written afresh (every listed file is removed and copied with `cp -a`, directories get their
// attributes from rsync `-aHAX --numeric-ids`, without recursion), so no inode of the old tree is modified
// in place, and hard links between listed files are kept. A hard-link group that would reach outside the
// listed files cannot be reproduced this way; the plan reports it and the caller copies the whole tree
// instead.
//
// Paths are byte-exact (engine/filenames.ts): a name that is not valid UTF-8 carries its bytes escaped,
// the file system gets its bytes, and since argv cannot carry them from Node, such names reach cp, rsync
// and find through files (rsync's --files-from) or not at all (a whole listing instead of one of starting
// points).
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import type { Stats } from "node:fs";
import { lstat, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  decodeNames,
  encodeName,
  fsPath,
  hasEscapes,
  readdirNamesAsync,
  readdirTypedAsync,
} from "../engine/filenames.js";
import { runCapture } from "./exec.js";
import { FormatError, type RunOptions } from "./types.js";

/** Relative paths of every entry below each of `dirs` (not the directories themselves), sorted. */
export async function pathsUnder(dirs: readonly string[]): Promise<string[]> {
  const all = new Set<string>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries = await readdirTypedAsync(fsPath(dir));
    await Promise.all(
      entries.map(async (e) => {
        const path = rel ? `${rel}/${e.name}` : e.name;
        all.add(path);
        if (e.isDirectory) await walk(join(dir, e.name), path);
      }),
    );
  };
  for (const dir of dirs) await walk(dir, "");
  return [...all].sort();
}

export interface TreeUpdatePlan {
  /** Relative paths to remove from the target (whole subtrees), parents before children. */
  remove: string[];
  /** Relative paths written from `root` (entries, not their contents for directories), sorted; "." (the
   * root directory's own attributes) comes first. */
  transfer: string[];
  /** Those of them that are directories ("." included). */
  dirs: string[];
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(fsPath(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw err;
  }
}

function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) out.push(path.slice(0, i));
  return out;
}

/**
 * Work out how to turn `target` (equal to the old view) into `root` (the new view) when only `candidates`
 * (relative paths, closed under ancestors) can differ. Reads only. Returns a reason string instead of a
 * plan when the update cannot be done exactly this way (the caller then copies the whole tree).
 */
export async function planTreeUpdate(
  root: string,
  target: string,
  candidates: readonly string[],
): Promise<TreeUpdatePlan | string> {
  const remove: string[] = [];
  const transfer: string[] = ["."];
  const dirs = new Set<string>(["."]);
  /** Subtrees already settled (removed or copied whole): nothing below them needs a look. */
  const settled = new Set<string>();
  const links = new Map<number, { nlink: number; seen: number; path: string }>();
  const note = (path: string, st: Stats) => {
    transfer.push(path);
    if (st.isDirectory()) dirs.add(path);
    if (st.isFile() && st.nlink > 1) {
      const group = links.get(st.ino) ?? { nlink: st.nlink, seen: 0, path };
      group.seen++;
      links.set(st.ino, group);
    }
  };
  const copyWhole = async (path: string, st: Stats): Promise<void> => {
    note(path, st);
    settled.add(path);
    if (!st.isDirectory()) return;
    for (const e of await readdirNamesAsync(fsPath(join(root, path)))) {
      const child = `${path}/${e}`;
      await copyWhole(child, await lstat(fsPath(join(root, child))));
    }
  };
  const sorted = [...new Set(candidates)].filter((p) => p !== "" && p !== ".").sort();
  try {
    for (const path of sorted) {
      if (settled.has(path) || ancestors(path).some((a) => settled.has(a))) continue;
      const now = await lstatOrNull(join(root, path));
      let old = await lstatOrNull(join(target, path));
      if (!now) {
        if (old) remove.push(path);
        settled.add(path);
        continue;
      }
      if (old && old.isDirectory() !== now.isDirectory()) {
        remove.push(path);
        old = null;
      }
      if (!old) {
        await copyWhole(path, now);
        continue;
      }
      note(path, now);
      if (!now.isDirectory()) continue;
      // The children lists: what vanished (an opaque directory, a whiteout's effect) and what appeared.
      const [nowNames, oldNames] = await Promise.all([
        readdirNamesAsync(fsPath(join(root, path))),
        readdirNamesAsync(fsPath(join(target, path))),
      ]);
      const nowSet = new Set(nowNames);
      const oldSet = new Set(oldNames);
      for (const name of oldNames) {
        if (!nowSet.has(name)) {
          remove.push(`${path}/${name}`);
          settled.add(`${path}/${name}`);
        }
      }
      for (const name of nowNames) {
        if (oldSet.has(name)) continue;
        const child = `${path}/${name}`;
        await copyWhole(child, await lstat(fsPath(join(root, child))));
      }
    }
    // The root's children lists too (the root itself is always a candidate).
    const [nowNames, oldNames] = await Promise.all([readdirNamesAsync(root), readdirNamesAsync(target)]);
    const nowSet = new Set(nowNames);
    const oldSet = new Set(oldNames);
    for (const name of oldNames) if (!nowSet.has(name) && !settled.has(name)) remove.push(name);
    for (const name of nowNames) {
      if (!oldSet.has(name) && !settled.has(name))
        await copyWhole(name, await lstat(fsPath(join(root, name))));
    }
  } catch (err) {
    if (err instanceof FormatError) return err.message;
    throw err;
  }
  for (const group of links.values()) {
    if (group.seen < group.nlink)
      return `${group.path} has hard links outside the changed paths (${group.seen} of ${group.nlink} seen)`;
  }
  const written = [transfer[0]!, ...[...new Set(transfer.slice(1))].sort()];
  return { remove: [...new Set(remove)].sort(), transfer: written, dirs: written.filter((p) => dirs.has(p)) };
}

/** Nanosecond time comparisons (--modify-window=-1): by default rsync takes times within the same second
 * for equal and leaves them as they are. */
const RSYNC = ["rsync", "-aHAX", "--numeric-ids", "--modify-window=-1"];

/** Non-directories copied by one `cp` (hard links are kept within one invocation); more go to rsync. */
const CP_BATCH = 2000;

/**
 * Carry out a plan: remove; copy the non-directories with `cp -a` (what a whole-tree copy uses too, and
 * an in-kernel copy, where rsync pipes file data between its processes); then one rsync over the
 * directories, the root included, for their attributes and times (last, once nothing changes in them).
 * The tree is a staging copy nobody else sees: entries are replaced by removing them first.
 */
export async function applyTreeUpdate(
  root: string,
  target: string,
  plan: TreeUpdatePlan,
  scratch: string,
  opts: RunOptions & { cpBatch?: number } = {},
): Promise<void> {
  // Parents sort before their children: a removed parent takes its children along (force ignores the
  // vanished ones).
  for (const path of plan.remove) await rm(fsPath(join(target, path)), { recursive: true, force: true });
  const dirSet = new Set(plan.dirs);
  const files = plan.transfer.filter((path) => !dirSet.has(path));
  let dirs = plan.dirs.filter((path) => path !== ".");
  // Names that are not UTF-8 cannot go through cp's argv: rsync reads them from its list.
  if (files.length > (opts.cpBatch ?? CP_BATCH) || files.some(hasEscapes)) {
    dirs = [...dirs, ...files]; // rsync keeps hard links across all of them
  } else if (files.length > 0) {
    await Promise.all(files.map((path) => rm(join(target, path), { recursive: true, force: true })));
    await runCapture(["cp", "-a", "--parents", "-t", target, "--", ...files], {
      signal: opts.signal,
      cwd: root,
    });
  }
  // With --dirs, rsync takes "." in the list for the root's whole first level: filter rules keep that level
  // to the listed names. A name that rsync would read as a pattern gets the root a run of its own instead.
  const top = [...new Set(dirs.map((path) => path.split("/", 1)[0]!))];
  const plain = top.every((name) => !/[[*?\\]/.test(name) && !hasEscapes(name));
  const list = join(scratch, "transfer.list");
  await writeFile(list, encodeName(`${[...(plain ? ["."] : []), ...dirs].join("\0")}\0`));
  const filters = plain ? [...top.map((name) => `--include=/${name}`), "--exclude=/*"] : [];
  const args = ["--ignore-times", "--dirs", "--from0", `--files-from=${list}`, ...filters];
  const run = { signal: opts.signal };
  if (plain || dirs.length > 0) await runCapture([...RSYNC, ...args, "--", `${root}/`, `${target}/`], run);
  if (!plain) await runCapture([...RSYNC, "--dirs", "--exclude=*", "--", `${root}/`, `${target}/`], run);
}

/** What a tree listing records of each entry, in find's -printf syntax: type, link count, inode, change
 * time, modification time, size, mode, owner. */
const LISTED = "%y %n %i %C@ %T@ %s %m %U %G";
const LISTED_FIELDS = 9;

function runFind(args: string[], opts: RunOptions): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("find", args, { stdio: ["ignore", "pipe", "pipe"], signal: opts.signal });
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolvePromise(Buffer.concat(out));
      else reject(new FormatError(`find failed with exit status ${code}: ${stderr.trim()}`));
    });
  });
}

/** Records of `LISTED` fields and a path; `dir` (find's starting point, printed with %p) is cut from the
 * paths. */
function parseListing(text: string, into: Map<string, string>, dir?: string): void {
  for (const record of text.split("\0")) {
    if (!record) continue;
    let at = -1;
    for (let i = 0; i < LISTED_FIELDS; i++) at = record.indexOf(" ", at + 1);
    let path = record.slice(at + 1);
    if (dir !== undefined) path = path === dir ? "" : path.slice(dir.length + 1);
    into.set(path, record.slice(0, at));
  }
}

/**
 * What `dir` holds as the file system reports it, without reading file contents: for every entry (by path
 * relative to `dir`, "" for `dir` itself) its type, link count, inode, change time, modification time,
 * size, mode and owner. Any change to an entry's content or metadata, and any entry created, removed or
 * renamed, changes some entry's ctime (which cannot be set from user space), so an equal listing means the
 * tree was left alone (short of changes made within the same clock tick as the last one recorded, or after
 * resetting the system clock). With `paths`, only those entries (which must exist) are listed.
 */
export async function treeListing(
  dir: string,
  paths?: readonly string[],
  opts: RunOptions = {},
): Promise<Map<string, string>> {
  const listing = new Map<string, string>();
  const base = resolve(dir);
  if (!paths) {
    parseListing(decodeNames(await runFind([base, "-printf", `${LISTED} %P\\0`], opts)), listing);
    return listing;
  }
  // Starting points are argv: a path that is not UTF-8 cannot be one, so the whole tree is listed.
  if (paths.some(hasEscapes)) {
    const all = await treeListing(dir, undefined, opts);
    for (const p of paths) {
      const key = p === "." ? "" : p;
      const meta = all.get(key);
      if (meta !== undefined) listing.set(key, meta);
    }
    return listing;
  }
  for (let i = 0; i < paths.length; i += 1000) {
    const starts = paths.slice(i, i + 1000).map((p) => (p === "" || p === "." ? base : join(base, p)));
    const text = await runFind([...starts, "-maxdepth", "0", "-printf", `${LISTED} %p\\0`], opts);
    parseListing(decodeNames(text), listing, base);
  }
  return listing;
}

/**
 * SHA-256 of `dir`'s whole listing as find prints it (the fields of `treeListing`, entries in directory
 * order). Two snapshots of a tree are equal when nothing in it changed (see `treeListing`): the cheap
 * check of a published directory output on a no-op build (one `find`, its output hashed, nothing parsed).
 */
export async function treeSnapshot(dir: string, opts: RunOptions = {}): Promise<string> {
  const out = await runFind([resolve(dir), "-printf", `${LISTED} %P\\0`], opts);
  return createHash("sha256").update(out).digest("hex");
}

/** A listing as text and back, for storing it (entries in the map's order: listings compare as maps). */
export function serializeListing(listing: Map<string, string>): string {
  const parts: string[] = [];
  for (const [path, meta] of listing) parts.push(meta, " ", path, "\0");
  return parts.join("");
}

export function parseSerializedListing(text: string): Map<string, string> {
  const listing = new Map<string, string>();
  parseListing(text, listing);
  return listing;
}

export function sameListing(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [path, meta] of a) if (b.get(path) !== meta) return false;
  return true;
}
