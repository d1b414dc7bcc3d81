// Format=directory: the root tree itself is the output (no extension, never compressed).
//
// Placing a tree (or any file) at a destination never destroys what was there before the new content
// is complete: the new tree is built under a temporary name next to the destination, then the old one is
// renamed away, the new one renamed into place, and only then the old one removed. If the second rename
// fails the old one is put back. (Linux has RENAME_EXCHANGE, Node does not expose it: there is a short
// window where the destination name is absent, never one where it holds partial content.)
import { lstat, rename, rm } from "node:fs/promises";
import { runCapture, siblingTempPath } from "./exec.js";
import { FormatError, type RunOptions } from "./types.js";

/** `cp -a --reflink=auto` of `src` to the new path `dest` (which must not exist). */
export async function copyTree(src: string, dest: string, opts: RunOptions = {}): Promise<void> {
  await runCapture(["cp", "-a", "--reflink=auto", "--no-target-directory", "--", src, dest], opts);
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

/**
 * Moves `fresh` to `dest`, replacing whatever `dest` is (file, symlink or directory tree) in the safest
 * order: `dest` is only deleted after `fresh` took its name. Both must be on the same filesystem.
 */
export async function replacePath(fresh: string, dest: string): Promise<void> {
  const old = await lstat(dest).catch(() => undefined);
  const neu = await lstat(fresh);
  if (!old) {
    await rename(fresh, dest);
    return;
  }
  // A non-directory replaces a non-directory atomically with one rename.
  if (!old.isDirectory() && !neu.isDirectory()) {
    await rename(fresh, dest);
    return;
  }
  const aside = siblingTempPath(dest, "old");
  await rename(dest, aside);
  try {
    await rename(fresh, dest);
  } catch (err) {
    await rename(aside, dest).catch(() => undefined);
    throw err;
  }
  await rm(aside, { recursive: true, force: true });
}

/**
 * Moves `src` to `dest` (replacing it as `replacePath` does), copying across filesystems.
 * `src` is gone afterwards.
 */
export async function movePath(src: string, dest: string, opts: RunOptions = {}): Promise<void> {
  const tmp = siblingTempPath(dest);
  try {
    await rename(src, tmp);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    try {
      await copyTree(src, tmp, opts);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    await rm(src, { recursive: true, force: true });
  }
  try {
    await replacePath(tmp, dest);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

export interface PlaceDirectoryOptions extends RunOptions {
  /**
   * The caller gives up `src` (a staging tree it owns): it is renamed, not copied. Otherwise it is copied
   * with `cp -a --reflink=auto` and left untouched (a cached tree, say).
   */
  move?: boolean;
}

/** Puts the tree `src` at `dest`, replacing a previous output there only once the new one is complete. */
export async function placeDirectory(
  src: string,
  dest: string,
  opts: PlaceDirectoryOptions = {},
): Promise<void> {
  const st = await lstat(src).catch(() => undefined);
  if (!st?.isDirectory()) throw new FormatError(`Cannot place ${src} as a directory output: not a directory`);
  if (opts.move) {
    await movePath(src, dest, opts);
    return;
  }
  const tmp = siblingTempPath(dest);
  try {
    await copyTree(src, tmp, opts);
    await replacePath(tmp, dest);
  } catch (err) {
    if (await exists(tmp)) await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
