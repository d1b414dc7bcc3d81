// Copying user trees (SkeletonTrees=, ExtraTrees=, BaseTrees=, build output) into an image root.
// Trees are directories or tar archives; like mkosi, ownership is not preserved (the image gets root-owned
// files) while modes, links and timestamps are.
import { mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { PathInput, TaskContext } from "../engine/api.js";
import type { ConfigTree } from "./image.js";

const ARCHIVE = /\.(tar|tar\.gz|tgz|tar\.xz|txz|tar\.zst|tzst|tar\.bz2|tbz2)$/;

/** Where inside the image a tree lands. */
export function treeTarget(root: string, tree: ConfigTree): string {
  const target = tree.Target ?? "/";
  return join(root, target);
}

/** Declared path inputs for a list of trees: one label per tree, in order (order matters: later trees
 * overwrite earlier ones). */
export function treeInputs(prefix: string, trees: ConfigTree[]): Record<string, PathInput> {
  const inputs: Record<string, PathInput> = {};
  trees.forEach((tree, index) => {
    inputs[`${prefix}[${index}]:${tree.Source}${tree.Target ? `:${tree.Target}` : ""}`] = {
      path: tree.Source,
    };
  });
  return inputs;
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
