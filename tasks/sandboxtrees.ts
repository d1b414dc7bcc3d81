// Sandbox trees may link to files outside themselves (e.g. a sources file linked to the host's apt
// sources); package managers read through such links, so the files they point to are inputs too. The
// tree fingerprint only covers the link text, hence this digest of what the links point to.
import { createHash } from "node:crypto";
import { lstatSync, readFileSync, realpathSync } from "node:fs";
import { join, relative } from "node:path";
import { fsPath, readdirNames } from "../engine/filenames.js";
import type { ConfigTree } from "./image.js";

/** Names are byte-exact (engine/filenames.ts); links with names that are not UTF-8 are resolved through
 * their bytes. */
function walk(dir: string, visit: (path: string) => void): void {
  let entries: string[];
  try {
    entries = readdirNames(fsPath(dir));
  } catch {
    return;
  }
  for (const name of entries) {
    const path = join(dir, name);
    const info = lstatSync(fsPath(path), { throwIfNoEntry: false });
    if (info?.isSymbolicLink()) visit(path);
    else if (info?.isDirectory()) walk(path, visit);
  }
}

/** For every symlink under a sandbox tree's etc/ that leads outside the tree: the digest of its target. */
export function externalLinkDigests(trees: ConfigTree[]): Record<string, string> {
  const digests: Record<string, string> = {};
  for (const tree of trees) {
    walk(join(tree.Source, "etc"), (link) => {
      let target: string;
      try {
        target = realpathSync(fsPath(link), { encoding: "buffer" }).toString("utf8");
      } catch {
        digests[relative(tree.Source, link)] = "dangling";
        return;
      }
      if (!relative(tree.Source, target).startsWith("..")) return;
      try {
        digests[relative(tree.Source, link)] = createHash("sha256")
          .update(readFileSync(fsPath(link)))
          .digest("hex");
      } catch {
        digests[relative(tree.Source, link)] = "unreadable";
      }
    });
  }
  return digests;
}
