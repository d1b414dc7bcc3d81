// Sandbox trees (SandboxTrees=) as inputs. Package managers read them through symlinks (apt's
// configuration is copied with `cp -L`), and a sandbox tree may link to files or whole directories
// outside itself (a sources file or sources.list.d linked to the host's). The tree's own fingerprint covers
// the link texts; this module adds what the links lead to, as the consumer sees it: a file's mode and
// content, a directory's entries, followed recursively. A dangling or looping link is an error naming it.
// Names are byte-exact (engine/filenames.ts).
import { createHash } from "node:crypto";
import { lstatSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import type { DeclaredInputs, Json } from "../engine/api.js";
import { decodeName, displayName, fsPath, readdirNames } from "../engine/filenames.js";
import type { ConfigTree } from "./image.js";
import { treeInputs } from "./trees.js";

/** Links followed through at most this many levels of linked directories. */
const MAX_DEPTH = 40;

class LinkError extends Error {}

/** Digest of what `path` (a file or directory reached through a link) is, following every link below. */
function dereferencedDigest(path: string, shown: string, ancestors: string[]): string {
  let real: string;
  try {
    real = decodeName(realpathSync(fsPath(path), { encoding: "buffer" }));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw new LinkError(`${shown}: symbolic link loop`);
    throw new LinkError(`${shown}: dangling symbolic link (${code ?? "unreadable"})`);
  }
  const st = statSync(fsPath(real));
  const h = createHash("sha256");
  if (st.isDirectory()) {
    if (ancestors.includes(real) || ancestors.length > MAX_DEPTH)
      throw new LinkError(`${shown}: symbolic link loop (${real} contains itself)`);
    h.update(`d ${(st.mode & 0o7777).toString(8)}\n`);
    for (const name of readdirNames(fsPath(real)).sort()) {
      h.update(
        `${JSON.stringify(name)} ${dereferencedDigest(join(real, name), `${shown}/${name}`, [...ancestors, real])}\n`,
      );
    }
  } else if (st.isFile()) {
    h.update(`f ${(st.mode & 0o7777).toString(8)} `).update(readFileSync(fsPath(real)));
  } else {
    h.update(`? ${st.mode.toString(8)}`);
  }
  return h.digest("hex");
}

function walkLinks(dir: string, visit: (path: string) => void): void {
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
    else if (info?.isDirectory()) walkLinks(path, visit);
  }
}

/** Several steps of every image declare the same trees: computed once per planning environment (one
 * invocation), never across invocations (the files may change in between). */
const memo = new WeakMap<object, Map<string, Record<string, string>>>();

/** For every symlink in the sandbox trees: the digest of what it leads to, keyed "<tree>:<link>". Links
 * within a tree are covered too (cheap, and exactly what `cp -L` copies). `scope` is the planning
 * environment the result is memoized for. */
export function sandboxLinkDigests(scope: object, trees: ConfigTree[]): Record<string, string> {
  const id = JSON.stringify(trees);
  let byTrees = memo.get(scope);
  if (!byTrees) {
    byTrees = new Map();
    memo.set(scope, byTrees);
  }
  const known = byTrees.get(id);
  if (known) return known;
  const digests = linkDigests(trees);
  byTrees.set(id, digests);
  return digests;
}

function linkDigests(trees: ConfigTree[]): Record<string, string> {
  const digests: Record<string, string> = {};
  trees.forEach((tree, index) => {
    walkLinks(tree.Source, (link) => {
      const rel = relative(tree.Source, link);
      try {
        digests[`${index}:${rel}`] = dereferencedDigest(
          link,
          `SandboxTrees=${tree.Source}: ${displayName(rel)}`,
          [],
        );
      } catch (err) {
        if (err instanceof LinkError) throw new Error(err.message);
        throw err;
      }
    });
  });
  return digests;
}

/** Declared inputs of a step that hands the sandbox trees to the package manager: the trees (in order:
 * later trees win) and what their links lead to. */
export function sandboxTreeInputs(
  base: string,
  trees: ConfigTree[],
  links: Record<string, string>,
): DeclaredInputs {
  return {
    paths: treeInputs(base, "SandboxTrees", trees),
    values: { SandboxTreeLinks: links as Record<string, Json> },
  };
}
