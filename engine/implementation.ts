// Implementation digests: what a task's key says about the code that runs it. The build writes
// dist/implementation.json (tools/implementation-digests.mjs), one digest per compiled module covering
// that module and every project module it imports; a task names its module (`import.meta.url`) and gets
// that digest. Nothing is numbered by hand, so a code change can never be forgotten in a key.
import { readFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

interface DigestFile {
  format: 1;
  modules: Record<string, string>;
}

/** The project root and its compiled tree: dist/engine/implementation.js when running compiled, or
 * engine/implementation.ts under a TypeScript runner (tests), which reads the last build's digests. */
function locate(): { root: string; dist: string } {
  const here = dirname(dirname(fileURLToPath(import.meta.url)));
  return basename(here) === "dist" ? { root: here, dist: here } : { root: here, dist: join(here, "dist") };
}

let digests: Record<string, string> | undefined;

function load(dist: string): Record<string, string> {
  const file = join(dist, "implementation.json");
  let parsed: DigestFile;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8")) as DigestFile;
  } catch (err) {
    throw new Error(`${file} is missing or unreadable (${(err as Error).message}): run "npm run build"`);
  }
  if (parsed.format !== 1 || typeof parsed.modules !== "object")
    throw new Error(`${file} has an unknown format: run "npm run build"`);
  return parsed.modules;
}

/** The implementation digest of the module at `moduleUrl` (pass `import.meta.url`). */
export function implementationDigest(moduleUrl: string): string {
  const { root, dist } = locate();
  digests ??= load(dist);
  const name = relative(root, fileURLToPath(moduleUrl))
    .split("\\")
    .join("/")
    .replace(/\.tsx?$/, ".js");
  const digest = digests[name];
  if (!digest) throw new Error(`no implementation digest for ${name} in ${dist}: run "npm run build"`);
  return digest;
}
