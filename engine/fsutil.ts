// Filesystem helpers for artifacts: trees may be root-owned, hold device nodes, setuid files, read-only
// directories, immutable files, and (if a task forgot) mounts.

import { execFileSync } from "node:child_process";
import { chmodSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { processStartTime } from "./proc.js";

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Mount points at or below `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  let info: string;
  try {
    info = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const base = resolve(dir);
  const res: string[] = [];
  for (const line of info.split("\n")) {
    const mp = line.split(" ")[4];
    if (!mp) continue;
    const p = unescapeMountinfo(mp);
    if (p === base || p.startsWith(`${base}/`)) res.push(p);
  }
  return res.sort((a, b) => b.length - a.length);
}

/**
 * Detach what processes that are gone left mounted below their workspaces in `tmpDir` (the engine names
 * them `<pid>-<start time>-…`). A build killed with SIGKILL in the caller's mount namespace leaves its
 * overlays mounted there, which keeps the cache from being removed. Returns how many were detached.
 */
export function unmountStaleWorkspaces(tmpDir: string): number {
  const base = resolve(tmpDir);
  let detached = 0;
  for (const mount of mountsUnder(base)) {
    if (mount === base) continue;
    const workspace = mount.slice(base.length + 1).split("/", 1)[0]!;
    const owner = /^(\d+)-(\d+)-/.exec(workspace);
    if (owner && processStartTime(Number(owner[1])) === owner[2]) continue;
    try {
      execFileSync("umount", ["-l", mount], { stdio: "ignore" });
      detached++;
    } catch {
      /* already gone with its parent */
    }
  }
  return detached;
}

/** The same for an engine cache directory (its `tmp/`). */
export function unmountStaleMounts(cacheDir: string): number {
  return unmountStaleWorkspaces(join(cacheDir, "tmp"));
}

function makeWritable(dir: string): void {
  const walk = (p: string) => {
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    if (!st.isDirectory()) return;
    try {
      if ((st.mode & 0o700) !== 0o700) chmodSync(p, (st.mode & 0o7777) | 0o700);
    } catch {
      /* best effort */
    }
    let names: string[] = [];
    try {
      names = readdirSync(p);
    } catch {
      return;
    }
    for (const n of names) walk(`${p}/${n}`);
  };
  walk(dir);
}

/** Remove a tree whatever it holds. Refuses (throws) rather than descend into a mount it cannot detach. */
export async function removeTree(dir: string): Promise<void> {
  const mounts = mountsUnder(dir);
  for (const m of mounts) {
    try {
      execFileSync("umount", ["-l", m], { stdio: "ignore" });
    } catch {
      /* checked below */
    }
  }
  if (mountsUnder(dir).length > 0) throw new Error(`refusing to remove ${dir}: it still has mounts below it`);
  try {
    await rm(dir, { recursive: true, force: true, maxRetries: 2 });
    return;
  } catch {
    // Read-only directories (non-root), then immutable/append-only attributes (root).
  }
  makeWritable(dir);
  try {
    await rm(dir, { recursive: true, force: true });
    return;
  } catch {
    /* below */
  }
  try {
    execFileSync("chattr", ["-R", "-f", "-i", "-a", dir], { stdio: "ignore" });
  } catch {
    /* best effort */
  }
  await rm(dir, { recursive: true, force: true });
}
