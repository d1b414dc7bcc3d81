// `mkosi --check build` re-executes cached steps and reports those whose fresh output differs from the
// cached one: a non-deterministic build script is found, a deterministic tree passes.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeTree, runMkosi } from "./harness.js";

const CONF = "[Distribution]\nDistribution=custom\n\n[Output]\nFormat=directory\nOutput=image\n";

async function project(build: string) {
  const dir = await makeTree({
    files: { "mkosi.conf": CONF, "mkosi.build": build, "mkosi.extra/etc/motd": "hello\n" },
  });
  const env = { MKOSI_CACHE_DIR: join(dir, ".cache") };
  const first = await runMkosi(["build"], { cwd: dir, env });
  if (first.code !== 0) throw new Error(`build failed:\n${first.stderr}`);
  return { dir, env };
}

describe("--check", () => {
  it("finds a build script whose output changes from run to run, and names the file", async () => {
    const { dir, env } = await project(
      '#!/bin/sh\nmkdir -p "$DESTDIR/etc"\nhead -c 16 /dev/urandom | od -An -tx1 > "$DESTDIR/etc/random"\necho same > "$DESTDIR/etc/same"\n',
    );
    const checked = await runMkosi(["--check", "build"], { cwd: dir, env });
    expect(checked.code).not.toBe(0);
    expect(checked.stderr).toMatch(/\[main\] build: DIFFERS: dest\/etc\/random modified/);
    expect(checked.stderr).toMatch(/Check: \d+ cached steps run again, \d+ with the same output, 1 not/);
    // Nothing was run or changed for real: the next build is a no-op.
    const after = await runMkosi(["--json", "build"], { cwd: dir, env });
    expect(after.ran).toEqual([]);
  }, 300_000);

  it("passes on a deterministic tree, and --check=N re-executes N steps", async () => {
    const { dir, env } = await project(
      '#!/bin/sh\nmkdir -p "$DESTDIR/etc"\necho built > "$DESTDIR/etc/built"\n',
    );
    const all = await runMkosi(["--json", "--check", "build"], { cwd: dir, env });
    expect(all.code).toBe(0);
    const checked = all.events.filter((e) => e.type === "checked");
    expect(checked.length).toBeGreaterThan(2);
    expect(checked.every((e) => e.type === "checked" && e.result.status === "same")).toBe(true);
    // publish acts on the output directory: never re-executed.
    expect(checked.some((e) => e.id === "main/publish")).toBe(false);
    const sample = await runMkosi(["--json", "--check=2", "build"], { cwd: dir, env });
    expect(sample.code).toBe(0);
    expect(sample.events.filter((e) => e.type === "checked")).toHaveLength(2);
  }, 300_000);
});
