// Finding a program inside a directory tree (a tools tree, or the host's root) as the sandbox's $PATH
// would find it there.
import { existsSync, lstatSync, readlinkSync } from "node:fs";
import { join, posix } from "node:path";

/** Where `name` resolves inside the tree (as $PATH would find it there): symlinks are followed relative
 * to the tree, never out of it. */
export function programInTree(root: string, name: string): string | undefined {
  for (const dir of ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
    const found = resolveInside(root, posix.join(dir, name));
    if (found) return found;
  }
  return undefined;
}

function resolveInside(root: string, path: string): string | undefined {
  const parts = path.split("/").filter(Boolean);
  let current = "/";
  let hops = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === "..") {
      current = posix.dirname(current);
      continue;
    }
    const next = posix.join(current, part);
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(join(root, next));
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (++hops > 40) return undefined;
      const target = readlinkSync(join(root, next));
      parts.unshift(...target.split("/").filter(Boolean));
      if (target.startsWith("/")) current = "/";
      continue;
    }
    current = next;
  }
  const full = join(root, current);
  return existsSync(full) ? full : undefined;
}
