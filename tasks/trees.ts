// Copying user trees (SkeletonTrees=, ExtraTrees=, BaseTrees=, build output) into an image root.
// Trees are directories or tar archives; like mkosi, ownership is not preserved (the image gets root-owned
// files) while modes, links and timestamps are.
import { mkdir, stat } from "node:fs/promises";
import { basename, isAbsolute, join, relative } from "node:path";
import type { PathDeclaration, TaskContext } from "../engine/api.js";
import { BUILDROOT } from "../sandbox/paths.js";
import type { ConfigTree } from "./image.js";

const ARCHIVE = /\.(tar|tar\.gz|tgz|tar\.xz|txz|tar\.zst|tzst|tar\.bz2|tbz2)$/;

export interface PathEntry {
  setting: string;
  path: string;
  target?: string | null;
  exclude?: string[];
}

/**
 * Declared path inputs, labelled the way a user names them: relative to the configuration directory
 * ("mkosi.extra", so explain says "mkosi.extra/etc/motd changed"), absolute outside it, with the
 * setting added only where two entries would read alike. Labels are part of keys, so they must not
 * depend on where mkosi runs from: only on the configuration directory. Order is kept (later trees win).
 */
export function pathInputs(base: string, entries: PathEntry[]): PathDeclaration[] {
  const display = (entry: PathEntry) => {
    const rel = relative(base, entry.path);
    const shown = rel === "" ? entry.setting : rel.startsWith("..") || isAbsolute(rel) ? entry.path : rel;
    return entry.target ? `${shown}:${entry.target}` : shown;
  };
  const counts = new Map<string, number>();
  for (const entry of entries) counts.set(display(entry), (counts.get(display(entry)) ?? 0) + 1);
  return entries.map((entry, index) => {
    const shown = display(entry);
    const label = (counts.get(shown) ?? 0) > 1 ? `${shown} (${entry.setting}[${index}])` : shown;
    return [
      label,
      entry.exclude?.length ? { path: entry.path, exclude: entry.exclude } : { path: entry.path },
    ];
  });
}

/** Declared path inputs for a list of trees of one setting. */
export function treeInputs(base: string, setting: string, trees: ConfigTree[]): PathDeclaration[] {
  return pathInputs(
    base,
    trees.map((tree) => ({ setting, path: tree.Source, target: tree.Target })),
  );
}

/** Where the source of a copy is bound in the sandbox. */
const SOURCE = "/work/source";

/**
 * Run `argv` (a copy into the image) in the "tools" sandbox with the image at /buildroot and `source` bound
 * read-only at /work/source, after creating `target` (an image path) there. cp and tar write through a
 * symlink they find at the destination, and an image holds absolute ones (Debian: /var/run → /run,
 * /usr/bin/awk → /etc/alternatives/awk): resolved on the host, they would lead the copy out of the image.
 * In the sandbox they resolve against its own fresh /tmp and /run and read-only /usr and /etc, as in
 * upstream's sandbox: the copy fails there ("not writing through dangling symlink") or writes into
 * nothing that outlives it, never into the host.
 */
async function copyInSandbox(
  ctx: TaskContext,
  root: string,
  source: string,
  target: string,
  argv: string[],
): Promise<void> {
  const { runTool } = await import("./toolrun.js");
  const destination = join(BUILDROOT, target);
  await runTool(ctx, undefined, ["sh", "-c", 'mkdir -p -- "$0" && exec "$@"', destination, ...argv], {
    root,
    binds: [{ src: source, dst: SOURCE, readOnly: true }],
  });
}

/**
 * Copy one tree (SkeletonTrees=, ExtraTrees=, SandboxTrees=) into `root` at its target. The source is a
 * directory (its content lands at the target), a tar archive (extracted there) or, as upstream accepts, a
 * single file: copied to the target path itself (`mkosi.crt:/usr/lib/verity.d/mkosi.crt`), or into the
 * target when that is a directory already (no target: `/<name>`). Missing parent directories are made.
 */
export async function copyTreeInto(ctx: TaskContext, root: string, tree: ConfigTree): Promise<void> {
  const target = tree.Target ?? "/";
  const destination = join(BUILDROOT, target);
  const info = await stat(tree.Source).catch((error: NodeJS.ErrnoException) => {
    // A source another image makes (%O/…) exists only once that image is published.
    if (error.code === "ENOENT")
      throw new Error(`${tree.Source}: no such file or directory (the source of a tree copied to ${target})`);
    throw error;
  });
  if (!info.isDirectory() && !ARCHIVE.test(tree.Source)) {
    if (!info.isFile()) throw new Error(`${tree.Source}: not a directory, tar archive or regular file`);
    // Into the target when it is a directory in the image, else to the target path itself; like the trees'
    // files: mode and times kept, owned by root; a symlink as the source is followed.
    const script =
      'd=$0 n=$1; shift; if [ -d "$d" ]; then t="$d/$n"; else t="$d"; fi; mkdir -p -- "$(dirname -- "$t")" && exec "$@" "$t"';
    const { runTool } = await import("./toolrun.js");
    await runTool(
      ctx,
      undefined,
      [
        "sh",
        "-c",
        script,
        destination.replace(/(.)\/+$/, "$1"),
        basename(tree.Source),
        "cp",
        "--dereference",
        "--preserve=mode,timestamps,xattr",
        "--no-preserve=ownership",
        "--reflink=auto",
        "--no-target-directory",
        SOURCE,
      ],
      { root, binds: [{ src: tree.Source, dst: SOURCE, readOnly: true }] },
    );
    return;
  }
  if (ARCHIVE.test(tree.Source)) {
    await copyInSandbox(ctx, root, tree.Source, target, [
      "tar",
      "--extract",
      "--file",
      SOURCE,
      "--directory",
      destination,
      "--no-same-owner",
      "--same-permissions",
      "--xattrs",
      "--xattrs-include=*",
    ]);
    return;
  }
  await copyInSandbox(ctx, root, tree.Source, target, [
    "cp",
    "--recursive",
    "--no-dereference",
    "--preserve=mode,timestamps,links,xattr",
    "--no-preserve=ownership",
    "--reflink=auto",
    "--no-target-directory",
    `${SOURCE}/.`,
    destination,
  ]);
}

/**
 * SandboxTrees= as the package manager reads them: directories (with their targets) as they are; single
 * files and archives are first put in place below a scratch directory, so they appear at their target.
 */
export async function sandboxTreeDirs(ctx: TaskContext, trees: ConfigTree[]): Promise<ConfigTree[]> {
  const dirs: ConfigTree[] = [];
  for (const [index, tree] of trees.entries()) {
    const info = await stat(tree.Source).catch(() => undefined);
    if (!info || info.isDirectory()) {
      dirs.push(tree);
      continue;
    }
    const dir = join(ctx.tmp, "sandbox-trees", String(index));
    await mkdir(dir, { recursive: true });
    await copyTreeInto(ctx, dir, tree);
    dirs.push({ Source: dir, Target: null });
  }
  return dirs;
}

/** Copy a directory's content into the image as it is (ownership included): build outputs ($DESTDIR). */
export async function copyDirPreserving(ctx: TaskContext, source: string, root: string): Promise<void> {
  await copyInSandbox(ctx, root, source, "/", [
    "cp",
    "-a",
    "--reflink=auto",
    "--no-target-directory",
    `${SOURCE}/.`,
    BUILDROOT,
  ]);
}

/** Extract an archive into the image as it is (ownership included): BaseTrees= archives. */
export async function extractPreserving(ctx: TaskContext, archive: string, root: string): Promise<void> {
  await copyInSandbox(ctx, root, archive, "/", [
    "tar",
    "--extract",
    "--file",
    SOURCE,
    "--directory",
    BUILDROOT,
    "--same-owner",
    "--same-permissions",
    "--numeric-owner",
    "--xattrs",
    "--xattrs-include=*",
    "--acls",
  ]);
}
