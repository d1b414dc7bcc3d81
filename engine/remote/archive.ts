// An artifact directory as a reproducible, zstd-compressed tar, and back. GNU tar in POSIX (pax) format
// keeps everything a layer holds: owners (numeric), modes (setuid included), all xattrs (file capabilities,
// trusted.overlay.* opaque markers, user.*), ACLs, SELinux labels, whiteouts (0:0 character devices) and
// other device nodes, FIFOs, hard links, symlinks, long paths and names that are not UTF-8, with mtimes to
// the nanosecond. Reproducible: names sorted, no atime/ctime, pax header names without the pid, and zstd's
// multi-threaded format, whose output does not depend on the number of threads. The same tree with the same
// tools gives the same bytes, so two machines that push the same artifact push the same blob.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";

/** Options both directions share. */
const TAR_FORMAT = [
  "--format=posix",
  "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
  "--numeric-owner",
  "--xattrs",
  "--xattrs-include=*",
  "--acls",
  "--selinux",
];

export const ZSTD_LEVEL = 3;

function collectStderr(child: ChildProcess): () => string {
  const chunks: Buffer[] = [];
  child.stderr?.on("data", (c: Buffer) => {
    if (chunks.length < 64) chunks.push(c);
  });
  return () => Buffer.concat(chunks).toString("utf8").trim().split("\n").slice(-5).join("; ");
}

function exited(child: ChildProcess, what: string, stderr: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.on("error", (err) => reject(new Error(`${what}: ${err.message}`)));
    child.on("close", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${what} failed (${signal ?? `exit status ${code}`}): ${stderr()}`));
    });
  });
}

export interface PackedBlob {
  /** "sha256:<hex>" of the compressed bytes. */
  digest: string;
  size: number;
}

/** Packs `dir` (its contents and its own metadata, as "./") into `file`. */
export async function packTree(dir: string, file: string, signal?: AbortSignal): Promise<PackedBlob> {
  const tar = spawn("tar", ["-C", dir, ...TAR_FORMAT, "--sort=name", "-cf", "-", "."], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LC_ALL: "C" },
    signal,
  });
  const zstd = spawn("zstd", ["-q", `-${ZSTD_LEVEL}`, "-T0", "-c"], {
    stdio: [tar.stdout!, "pipe", "pipe"],
    signal,
  });
  const tarErr = collectStderr(tar);
  const zstdErr = collectStderr(zstd);
  const hash = createHash("sha256");
  let size = 0;
  zstd.stdout!.on("data", (c: Buffer) => {
    hash.update(c);
    size += c.length;
  });
  await Promise.all([
    exited(tar, `tar -c ${dir}`, tarErr),
    exited(zstd, "zstd", zstdErr),
    pipeline(zstd.stdout!, createWriteStream(file)),
  ]);
  return { digest: `sha256:${hash.digest("hex")}`, size };
}

/** An unpacker into `dir` (an empty directory): write the compressed blob to `input`, end it, then await
 * `done`. Nothing is trusted before the caller has checked the blob's digest and the tree. */
export function unpackTree(dir: string, signal?: AbortSignal): { input: Writable; done: Promise<void> } {
  const tar = spawn(
    "tar",
    ["-C", dir, ...TAR_FORMAT, "--zstd", "--same-owner", "--same-permissions", "-xf", "-"],
    { stdio: ["pipe", "ignore", "pipe"], env: { ...process.env, LC_ALL: "C" }, signal },
  );
  const err = collectStderr(tar);
  tar.stdin!.on("error", () => undefined); // tar exiting early is reported by its exit status
  return { input: tar.stdin!, done: exited(tar, "tar -x", err) };
}
