// Implementation digests (tools/implementation-digests.mjs, engine/implementation.ts): a module's digest
// covers its code and every project module it imports, statically or dynamically; nothing else.
import { execFileSync } from "node:child_process";
import { appendFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { implementationDigest } from "../../engine/implementation.js";
import { cleanup, tempDir } from "./helpers.js";

const REPO = resolve(import.meta.dirname, "../..");
const TOOL = join(REPO, "tools/implementation-digests.mjs");

function digests(dist: string): Record<string, string> {
  execFileSync("node", [TOOL, dist]);
  return (
    JSON.parse(readFileSync(join(dist, "implementation.json"), "utf8")) as { modules: Record<string, string> }
  ).modules;
}

describe("implementation digests", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir("mkosi-impl-");
  });
  afterEach(async () => {
    await cleanup(dir);
  });

  it("follow static, re-exported and dynamic imports, transitively", () => {
    mkdirSync(join(dir, "sub"));
    const files: Record<string, string> = {
      "a.js": 'import { b } from "./b.js";\nexport const a = b;\n',
      "b.js": 'export * from "./sub/c.js";\nexport const b = 1;\n',
      "sub/c.js": "export const c = 1;\n",
      "d.js": 'export async function d() { return (await import("./sub/e.js")).e; }\n',
      "sub/e.js": "export const e = 1;\n",
      "lone.js": 'import "node:fs";\nexport const lone = 1;\n',
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const before = digests(dir);
    appendFileSync(join(dir, "sub/c.js"), "export const c2 = 2;\n");
    const afterC = digests(dir);
    expect(afterC["a.js"]).not.toBe(before["a.js"]);
    expect(afterC["b.js"]).not.toBe(before["b.js"]);
    expect(afterC["d.js"]).toBe(before["d.js"]);
    expect(afterC["lone.js"]).toBe(before["lone.js"]);
    appendFileSync(join(dir, "sub/e.js"), "export const e2 = 2;\n");
    const afterE = digests(dir);
    expect(afterE["d.js"]).not.toBe(afterC["d.js"]);
    expect(afterE["a.js"]).toBe(afterC["a.js"]);
  });

  it("refuse a dynamic import they cannot follow", () => {
    writeFileSync(join(dir, "x.js"), "export const load = (name) => import(name);\n");
    expect(() => execFileSync("node", [TOOL, dir], { stdio: "pipe" })).toThrow(/computed specifier/);
  });

  it("of the real build: changing the package manager module changes the install steps only", () => {
    const dist = join(dir, "dist");
    cpSync(join(REPO, "dist"), dist, { recursive: true });
    const before = digests(dist);
    appendFileSync(join(dist, "distros/pm/apt.js"), "\nexport const changed = 1;\n");
    const after = digests(dist);
    const steps = Object.keys(before).filter((name) => name.startsWith("tasks/steps/"));
    const changed = steps.filter((name) => before[name] !== after[name]).sort();
    expect(changed).toContain("tasks/steps/install.js");
    expect(changed).toContain("tasks/steps/metadata.js");
    expect(changed).not.toContain("tasks/steps/skeleton.js");
    expect(changed).not.toContain("tasks/steps/extras.js");
    expect(changed).not.toContain("tasks/steps/output.js");
  });

  it("are what tasks carry", async () => {
    const { skeleton } = await import("../../tasks/steps/skeleton.js");
    expect(skeleton.task.implementation).toBe(
      implementationDigest(pathToFileURL(join(REPO, "tasks/steps/skeleton.ts")).href),
    );
    expect(skeleton.task.implementation).toMatch(/^[0-9a-f]{64}$/);
  });
});
