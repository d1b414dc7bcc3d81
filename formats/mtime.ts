// SourceDateEpoch= support on trees: clamp every entry's atime and mtime to the epoch, as upstream does
// to the image root right before producing the output (`normalize_mtime`). Entries older than the epoch
// keep their times; symlinks are changed themselves (lutimes), never followed. Names are byte-exact
// (engine/filenames.ts).
import { lstat, lutimes } from "node:fs/promises";
import { join } from "node:path";
import { fsPath, readdirTypedAsync } from "../engine/filenames.js";

async function clampOne(name: string, epoch: number): Promise<void> {
  const path = fsPath(name);
  const st = await lstat(path, { bigint: true });
  const limit = BigInt(epoch) * 1_000_000_000n;
  if (st.atimeNs <= limit && st.mtimeNs <= limit) return;
  const toSeconds = (ns: bigint) => (ns <= limit ? Number(ns) / 1e9 : epoch);
  await lutimes(path, toSeconds(st.atimeNs), toSeconds(st.mtimeNs));
}

/**
 * Clamps atime/mtime of `root/subdir` and everything below it to `epoch` (seconds). Does nothing when
 * `epoch` is null/undefined or the directory does not exist. Children are handled before their parent
 * directory, so that the directory's own clamped mtime is what remains.
 */
export async function normalizeMtime(
  root: string,
  epoch: number | null | undefined,
  subdir = "",
): Promise<void> {
  if (epoch === null || epoch === undefined) return;
  const top = subdir ? join(root, subdir) : root;
  const st = await lstat(fsPath(top)).catch(() => undefined);
  if (!st) return;
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdirTypedAsync(fsPath(dir))) {
      const p = join(dir, e.name);
      if (e.isDirectory) await walk(p);
      await clampOne(p, epoch);
    }
  };
  if (st.isDirectory()) await walk(top);
  await clampOne(top, epoch);
}

/**
 * Clamps the entries `paths` (relative to `root`, "." for the root itself) to `epoch`, as normalizeMtime
 * does for a whole tree: for a tree whose other entries were clamped before and did not change.
 */
export async function normalizeMtimeOf(
  root: string,
  paths: readonly string[],
  epoch: number | null | undefined,
): Promise<void> {
  if (epoch === null || epoch === undefined) return;
  // Sorted, a directory comes before everything below it: backwards, children come first.
  const ordered = paths
    .filter((p) => p !== ".")
    .sort()
    .reverse();
  for (const path of ordered) await clampOne(join(root, path), epoch);
  if (paths.includes(".")) await clampOne(root, epoch);
}
