// A cross-process lock on a package download cache. apt runs with Debug::NoLocking (it would otherwise
// refuse to start while another apt holds the cache), so mkosi processes that share one cache directory
// (different projects, parallel test suites) serialize their package operations here: two downloads of
// the same .deb into one partial/ directory would corrupt each other. The lock is a directory (mkdir is
// atomic) holding the owner's pid; a lock whose owner is gone is taken over.
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

const POLL_MS = 200;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function tryAcquire(lock: string): Promise<boolean> {
  try {
    await mkdir(lock);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const owner = Number((await readFile(join(lock, "pid"), "utf8").catch(() => "")).trim());
    // No pid yet: the owner is between mkdir and writeFile; wait for it.
    if (!owner || alive(owner)) return false;
    await rm(lock, { recursive: true, force: true });
    return tryAcquire(lock);
  }
  await writeFile(join(lock, "pid"), String(process.pid));
  return true;
}

/** Run `fn` while holding the lock of `cacheDir`; waits (cancellably) for other holders. */
export async function withPackageCacheLock<T>(
  cacheDir: string,
  signal: AbortSignal | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  const lock = join(cacheDir, ".mkosi-lock");
  await mkdir(cacheDir, { recursive: true });
  // A lock dir from this very process (pid reuse after a crash cannot be told apart) is never ours to
  // wait for: the engine serializes users inside one process, so re-entry means a stale lock.
  while (!(await tryAcquire(lock))) {
    const owner = Number((await readFile(join(lock, "pid"), "utf8").catch(() => "")).trim());
    if (owner === process.pid) await rm(lock, { recursive: true, force: true });
    if (signal?.aborted) throw signal.reason ?? new Error("cancelled");
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}
