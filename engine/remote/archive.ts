// An artifact directory as a reproducible, zstd-compressed tar, and back. GNU tar in POSIX (pax) format
// keeps everything a layer holds: owners (numeric), modes (setuid included), all xattrs (file capabilities,
// trusted.overlay.* opaque markers, user.*), ACLs, SELinux labels, whiteouts (0:0 character devices) and
// other device nodes, FIFOs, hard links, symlinks, long paths and names that are not UTF-8, with mtimes to
// the nanosecond. Reproducible: names sorted, xattrs sorted, no atime/ctime, pax header names without the
// pid, and zstd's
// multi-threaded format, whose output does not depend on the number of threads. The same tree with the same
// tools gives the same bytes, so two machines that push the same artifact push the same blob.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { Transform, type Writable } from "node:stream";
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

const BLOCK = 512;

function headerSize(h: Buffer): number {
  if ((h[124]! & 0x80) !== 0) {
    // base-256 (GNU) for sizes that do not fit in 11 octal digits
    let n = 0;
    for (let i = 125; i < 136; i++) n = n * 256 + h[i]!;
    return n;
  }
  const text = h.subarray(124, 136).toString("latin1").replace(/\0.*$/s, "").trim();
  return text === "" ? 0 : Number.parseInt(text, 8);
}

/** Sorts the xattr records of pax extended headers. GNU tar writes them in the order the file system
 * lists them, which depends on the order they were set: the same tree would pack to different bytes. The
 * records only move within their header, so its size and checksum stay what they are. */
export class PaxXattrSorter extends Transform {
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes of entry data to pass through before the next header. */
  private skip = 0;
  /** Size of the pax header data being collected, with its padding. */
  private collect: { size: number; padded: number } | undefined;
  /** A "size" record of the last pax header: the next entry's real data size. */
  private nextSize: number | undefined;
  private ended = false;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    try {
      this.drain();
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: (err?: Error | null) => void): void {
    if (this.pending.length > 0) this.push(this.pending);
    done();
  }

  private drain(): void {
    for (;;) {
      if (this.ended || this.skip > 0) {
        const n = this.ended ? this.pending.length : Math.min(this.skip, this.pending.length);
        if (n === 0) return;
        this.push(this.pending.subarray(0, n));
        this.pending = this.pending.subarray(n);
        if (!this.ended) this.skip -= n;
        continue;
      }
      if (this.collect) {
        if (this.pending.length < this.collect.padded) return;
        const data = this.pending.subarray(0, this.collect.padded);
        this.pending = this.pending.subarray(this.collect.padded);
        this.push(this.sortRecords(data, this.collect.size));
        this.collect = undefined;
        continue;
      }
      if (this.pending.length < BLOCK) return;
      const h = this.pending.subarray(0, BLOCK);
      this.pending = this.pending.subarray(BLOCK);
      this.push(h);
      if (h.every((b) => b === 0)) {
        // End of archive: the rest is zero padding.
        this.ended = true;
        continue;
      }
      const type = String.fromCharCode(h[156]!);
      let size = headerSize(h);
      if (type === "x") {
        this.collect = { size, padded: Math.ceil(size / BLOCK) * BLOCK };
        continue;
      }
      if (this.nextSize !== undefined && type !== "g") size = this.nextSize;
      if (type !== "g") this.nextSize = undefined;
      this.skip = "123456".includes(type) ? 0 : Math.ceil(size / BLOCK) * BLOCK;
    }
  }

  private sortRecords(data: Buffer, size: number): Buffer {
    const records: Buffer[] = [];
    let at = 0;
    while (at < size) {
      const space = data.indexOf(0x20, at);
      const len = Number.parseInt(data.subarray(at, space).toString("latin1"), 10);
      if (space < 0 || !Number.isFinite(len) || len <= 0 || at + len > size) return data; // not ours to fix
      records.push(data.subarray(at, at + len));
      at += len;
    }
    const key = (r: Buffer) => {
      const space = r.indexOf(0x20);
      return r.subarray(space + 1, r.indexOf(0x3d, space)).toString("latin1");
    };
    for (const r of records) {
      const k = key(r);
      if (k === "size")
        this.nextSize = Number.parseInt(r.subarray(r.indexOf(0x3d) + 1, r.length - 1).toString(), 10);
    }
    const isXattr = (r: Buffer) => key(r).startsWith("SCHILY.xattr.");
    const xattrs = records.filter(isXattr).sort(Buffer.compare);
    if (xattrs.length < 2) return data;
    let i = 0;
    const sorted = records.map((r) => (isXattr(r) ? xattrs[i++]! : r));
    return Buffer.concat([...sorted, data.subarray(size)]);
  }
}

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
    stdio: ["pipe", "pipe", "pipe"],
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
    pipeline(tar.stdout!, new PaxXattrSorter(), zstd.stdin!),
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
