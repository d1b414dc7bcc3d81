// Format=cpio (and the initrd inside UKIs later): a "newc" cpio archive of a root tree, built by GNU
// cpio from the sorted list of every path below the root (NUL-separated on stdin), with
// --reproducible (no device numbers) and --renumber-inodes, streamed through the compressor.
//
// The list is in upstream's order (`sorted(root.rglob("*"))`): paths compared component by component,
// bytes of each name compared as UTF-8 / raw bytes, so a directory always precedes its contents and the
// kernel can unpack the archive in one pass. Symlinks are listed, not followed.
//
// newc stores mtimes and cpio cannot override them: with a SourceDateEpoch the tree's times are clamped
// in place first (`normalizeMtime`, what upstream does to the root before any output). Owners are
// stored as numbers; `ownerRoot` stores 0:0 for everything (the default when not running as root).
import { lstat, readdir } from "node:fs/promises";
import { compressionStages } from "./compress.js";
import { runPipelineToFile } from "./exec.js";
import { normalizeMtime } from "./mtime.js";
import type { ArchiveOptions } from "./tar.js";
import { FormatError } from "./types.js";

export interface CpioOptions extends ArchiveOptions {
  /**
   * Paths (relative to the root, without a leading "./") to archive instead of the whole tree. They are
   * sorted like the full listing; parents are not added implicitly.
   */
  files?: (string | Buffer)[];
  /** With a sourceDateEpoch, clamp the tree's times in place before archiving (default true). */
  clampMtimes?: boolean;
}

const SLASH = 0x2f;

function components(p: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i <= p.length) {
    let e = p.indexOf(SLASH, i);
    if (e < 0) e = p.length;
    if (e > i) out.push(p.subarray(i, e));
    i = e + 1;
  }
  return out;
}

/** Compares two relative paths component by component (bytes), as Python sorts Path objects. */
export function comparePaths(a: Buffer, b: Buffer): number {
  const ca = components(a);
  const cb = components(b);
  for (let k = 0; k < Math.min(ca.length, cb.length); k++) {
    const c = Buffer.compare(ca[k]!, cb[k]!);
    if (c !== 0) return c;
  }
  return ca.length - cb.length;
}

/**
 * Every path below `root` (not the root itself), relative, without "./", in upstream's sorted order.
 * Names are Buffers: file names need not be valid UTF-8.
 */
export async function listTree(root: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const walk = async (abs: Buffer, rel: Buffer | undefined): Promise<void> => {
    const entries = await readdir(abs, { withFileTypes: true, encoding: "buffer" });
    entries.sort((x, y) => Buffer.compare(x.name, y.name));
    for (const e of entries) {
      const r = rel ? Buffer.concat([rel, Buffer.from("/"), e.name]) : e.name;
      out.push(r);
      if (e.isDirectory()) await walk(Buffer.concat([abs, Buffer.from("/"), e.name]), r);
    }
  };
  await walk(Buffer.from(root), undefined);
  return out;
}

/** The `cpio --create` command line reading a NUL-separated list on stdin. */
export function cpioCreateCommand(root: string, opts: Pick<CpioOptions, "ownerRoot"> = {}): string[] {
  const ownerRoot = opts.ownerRoot ?? process.getuid?.() !== 0;
  return [
    "cpio",
    "--create",
    "--reproducible",
    "--renumber-inodes",
    "--null",
    "--format=newc",
    "--quiet",
    "--directory",
    root,
    ...(ownerRoot ? ["--owner=0:0"] : []),
  ];
}

/**
 * Writes a newc cpio archive of the tree `root` to `dest` (compressed with `opts.compression`),
 * atomically. `dest` is the full file name, compression suffix included.
 */
export async function makeCpio(root: string, dest: string, opts: CpioOptions = {}): Promise<void> {
  const st = await lstat(root).catch(() => undefined);
  if (!st?.isDirectory()) throw new FormatError(`Cannot archive ${root}: not a directory`);
  const epoch = opts.sourceDateEpoch;
  if (epoch !== null && epoch !== undefined) {
    if (!Number.isInteger(epoch) || epoch < 0) {
      throw new FormatError(`SourceDateEpoch=${epoch} is not a non-negative integer`);
    }
    if (opts.clampMtimes !== false) await normalizeMtime(root, epoch);
  }
  const files = opts.files
    ? opts.files.map((f) => (typeof f === "string" ? Buffer.from(f) : f)).sort(comparePaths)
    : await listTree(root);
  const input = Buffer.concat(files.flatMap((f) => [f, Buffer.from([0])]));
  const stages = [
    cpioCreateCommand(root, opts),
    ...compressionStages(opts.compression, opts.level, opts.env),
  ];
  await runPipelineToFile(stages, dest, { input, signal: opts.signal, env: opts.env });
}
