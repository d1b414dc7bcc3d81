// Host programs a step runs are inputs too: a host upgrade of apt or systemd can change what a step
// produces. They are declared as path inputs (fingerprinted by content through the stat cache, so an
// unchanged binary costs a stat), labelled "host:<name>". With a tools tree, toolstree.ts declares the
// tree's programs instead.
import { existsSync, realpathSync } from "node:fs";
import { join } from "node:path";
import type { PathDeclaration } from "../engine/api.js";

const resolved = new Map<string, string | null>();

function which(name: string): string | null {
  const cached = resolved.get(name);
  if (cached !== undefined) return cached;
  let found: string | null = null;
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
    const candidate = join(dir || ".", name);
    if (existsSync(candidate)) {
      found = realpathSync(candidate);
      break;
    }
  }
  resolved.set(name, found);
  return found;
}

/** Declared inputs for host programs; a missing program is declared as absent. */
export function hostTools(names: string[]): PathDeclaration[] {
  return names.map((name) => [`host:${name}`, which(name) ? { path: which(name)! } : null]);
}
