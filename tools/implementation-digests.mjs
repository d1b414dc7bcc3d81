#!/usr/bin/env node
// Build step (after tsc): writes dist/implementation.json, the implementation digest of every compiled
// module: SHA-256 over the module's code and the code of every project module it imports, statically or
// dynamically, transitively. A task's key includes the digest of its module (engine/implementation.ts), so
// changing a module reruns exactly the tasks whose code reaches it, and nothing else.
//
// Digests cover the compiled JavaScript (tsc is run with removeComments, so comments and formatting do not
// count), without the source map reference. npm packages are not covered: the project's own code decides
// what a task produces.
//
// Usage: node tools/implementation-digests.mjs [DIST]   (default: dist/ next to this script's parent)

import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, posix, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const dist = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), "..", "dist"));

/** Relative specifiers of `import … from "x"`, `export … from "x"`, `import "x"` and `import("x")`. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])(\.{1,2}\/[^"']+)\1/g;
/** A dynamic import whose specifier is not a string literal cannot be followed: refuse to guess. */
const DYNAMIC_COMPUTED = /\bimport\s*\(\s*[^"'\s)]/;

function modules(dir, base = dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) modules(path, base, out);
    else if (entry.name.endsWith(".js")) out.push(relative(base, path).split("\\").join("/"));
  }
  return out;
}

const names = modules(dist).sort();
const own = new Map();
const imports = new Map();
for (const name of names) {
  const text = readFileSync(join(dist, name), "utf8").replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n");
  own.set(name, createHash("sha256").update(text).digest("hex"));
  if (DYNAMIC_COMPUTED.test(text)) {
    console.error(`implementation-digests: ${name} has a dynamic import of a computed specifier`);
    process.exit(1);
  }
  const deps = new Set();
  for (const match of text.matchAll(SPECIFIER)) {
    const target = posix.normalize(posix.join(posix.dirname(name), match[2]));
    if (own.has(target) || names.includes(target)) deps.add(target);
    else if (target.endsWith(".js")) {
      console.error(`implementation-digests: ${name} imports ${match[2]}, which is not in ${dist}`);
      process.exit(1);
    }
  }
  imports.set(name, [...deps]);
}

function closure(name) {
  const seen = new Set([name]);
  const stack = [name];
  while (stack.length > 0) {
    for (const dep of imports.get(stack.pop()) ?? []) {
      if (!seen.has(dep)) {
        seen.add(dep);
        stack.push(dep);
      }
    }
  }
  return [...seen].sort();
}

const digests = {};
for (const name of names) {
  const h = createHash("sha256");
  for (const dep of closure(name)) h.update(`${dep}\0${own.get(dep)}\n`);
  digests[name] = h.digest("hex");
}
writeFileSync(join(dist, "implementation.json"), `${JSON.stringify({ format: 1, modules: digests })}\n`);
