// Durability of commits. A committed record must never outlive its files after a power loss, so a commit
// flushes in this order: the artifact's files (syncfs of the cache's file system, one call for the whole
// tree), the rename that puts it in place (fsync of the artifacts directory), then the LMDB transaction that
// records it (a synchronous, flushed commit). A crash at any point leaves either no record, or a record
// whose files are on disk; an artifact without a record is swept by gc.
import { spawn } from "node:child_process";
import { closeSync, fsyncSync, openSync } from "node:fs";

/** Flush the file system holding `path` (syncfs(2) through coreutils' `sync --file-system`). */
export function syncFileSystem(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("sync", ["--file-system", path], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`sync --file-system ${path} failed: ${err.trim() || code}`)),
    );
  });
}

/** Make a directory's entries (a rename into it) durable. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
