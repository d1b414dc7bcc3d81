// Format=tar (and SplitArtifacts=tar, and the OCI layer later): a GNU tar archive of a root tree,
// streamed through the compressor into the destination.
//
// Like upstream: pax format with --xattrs, --acls and --selinux; the pax atime/ctime/mtime records are
// deleted; --sparse; the contents (not the directories) of /dev /proc /sys /tmp /run /var/tmp are
// excluded; entries are stored as root:0 when we are not root. (--sparse only without a SourceDateEpoch:
// GNU tar puts its PID in the header name of sparse files.) Beyond upstream, so the archive is
// reproducible whatever the directory order and whoever owns names on the host: --sort=name,
// --numeric-owner (ids only: the host's passwd must not leak into the image), and with a
// SourceDateEpoch, --mtime=@<epoch> --clamp-mtime.
import { lstat } from "node:fs/promises";
import { compressionStages } from "./compress.js";
import { runPipelineToFile } from "./exec.js";
import { type Compression, FormatError, type RunOptions } from "./types.js";

/** Options shared by the archive producers (tar, cpio). */
export interface ArchiveOptions extends RunOptions {
  /** Compression of the whole archive (default none). */
  compression?: Compression | string | boolean | null;
  /** CompressLevel= (default 3). */
  level?: number | null;
  /** SourceDateEpoch=: no entry is newer than this (seconds since the epoch). */
  sourceDateEpoch?: number | null;
  /** Store every entry as owned by 0:0. Default: when not running as root (as upstream). */
  ownerRoot?: boolean;
}

export interface TarOptions extends ArchiveOptions {
  /** Exclude the contents of the API/runtime directories (default true). */
  excludeRuntimeDirs?: boolean;
}

/** Directories whose contents never go into an archive (the directories themselves do). */
export const RUNTIME_DIRS = ["dev", "proc", "sys", "tmp", "run", "var/tmp"] as const;

/** `--exclude` arguments for the runtime directories' contents. */
export function tarExcludeArguments(): string[] {
  return RUNTIME_DIRS.flatMap((d) => ["--exclude", `./${d}/*`]);
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** The `tar --create` command line writing the archive of `root` to stdout. */
export function tarCreateCommand(root: string, opts: TarOptions = {}): string[] {
  const ownerRoot = opts.ownerRoot ?? !isRoot();
  const epoch = opts.sourceDateEpoch;
  if (epoch !== null && epoch !== undefined && (!Number.isInteger(epoch) || epoch < 0)) {
    throw new FormatError(`SourceDateEpoch=${epoch} is not a non-negative integer`);
  }
  const reproducible = epoch !== null && epoch !== undefined;
  return [
    "tar",
    "--create",
    "--file",
    "-",
    "--directory",
    root,
    "--acls",
    "--selinux",
    // --xattrs implies --format=pax
    "--xattrs",
    // pax records of atime/ctime/mtime would make the archive differ between two identical trees
    "--pax-option=delete=atime,delete=ctime,delete=mtime",
    // GNU tar names the pax header of a sparse file "GNUSparseFile.<pid>": never reproducible. With a
    // SourceDateEpoch sparse files are stored in full instead (same content on extraction, not sparse).
    ...(reproducible ? [] : ["--sparse"]),
    "--force-local",
    "--sort=name",
    "--numeric-owner",
    ...(ownerRoot ? ["--owner=root:0", "--group=root:0"] : []),
    ...(reproducible ? [`--mtime=@${epoch}`, "--clamp-mtime"] : []),
    ...(opts.excludeRuntimeDirs === false ? [] : tarExcludeArguments()),
    ".",
  ];
}

async function requireDirectory(root: string): Promise<void> {
  const st = await lstat(root).catch(() => undefined);
  if (!st?.isDirectory()) throw new FormatError(`Cannot archive ${root}: not a directory`);
}

/**
 * Writes a tar archive of the tree `root` to `dest` (compressed with `opts.compression`), atomically.
 * `dest` is the full file name, compression suffix included (see naming.ts).
 */
export async function makeTar(root: string, dest: string, opts: TarOptions = {}): Promise<void> {
  await requireDirectory(root);
  const stages = [tarCreateCommand(root, opts), ...compressionStages(opts.compression, opts.level, opts.env)];
  await runPipelineToFile(stages, dest, { signal: opts.signal, env: opts.env });
}
