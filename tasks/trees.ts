// Copying user trees (SkeletonTrees=, ExtraTrees=, BaseTrees=, build output) into an image root.
// Trees are directories or tar archives; like mkosi, ownership is not preserved (the image gets root-owned
// files) while modes, links and timestamps are.
import { mkdir, stat } from "node:fs/promises";
import { isAbsolute, join, relative } from "node:path";
import type { PathDeclaration, TaskContext } from "../engine/api.js";
import type { ConfigTree } from "./image.js";

const ARCHIVE = /\.(tar|tar\.gz|tgz|tar\.xz|txz|tar\.zst|tzst|tar\.bz2|tbz2)$/;

/** Where inside the image a tree lands. */
export function treeTarget(root: string, tree: ConfigTree): string {
  const target = tree.Target ?? "/";
  return join(root, target);
}

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

export async function copyTreeInto(ctx: TaskContext, root: string, tree: ConfigTree): Promise<void> {
  const destination = treeTarget(root, tree);
  await mkdir(destination, { recursive: true });
  if (ARCHIVE.test(tree.Source)) {
    await ctx.exec("tar", [
      "--extract",
      "--file",
      tree.Source,
      "--directory",
      destination,
      "--no-same-owner",
      "--same-permissions",
      "--xattrs",
      "--xattrs-include=*",
    ]);
    return;
  }
  const info = await stat(tree.Source);
  if (!info.isDirectory()) throw new Error(`${tree.Source}: not a directory or tar archive`);
  await ctx.exec("cp", [
    "--recursive",
    "--no-dereference",
    "--preserve=mode,timestamps,links,xattr",
    "--no-preserve=ownership",
    "--reflink=auto",
    "--no-target-directory",
    `${tree.Source}/.`,
    destination,
  ]);
}

/** Copy a directory's content into the image as it is (ownership included): build outputs ($DESTDIR). */
export async function copyDirPreserving(
  ctx: TaskContext,
  source: string,
  destination: string,
): Promise<void> {
  await mkdir(destination, { recursive: true });
  await ctx.exec("cp", ["-a", "--reflink=auto", "--no-target-directory", `${source}/.`, destination]);
}
