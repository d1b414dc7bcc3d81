// A root password is a secret: the cache keeps only keyed digests of it, and no output of ours prints it
// (`--json summary` and $MKOSI_CONFIG keep upstream's shape and carry it, as scripts may rely on it).
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { makeTree, PACKAGE_CACHE, runMkosi } from "../pipeline/harness.js";

const SECRET = "hunter2-planted-4e1d";

const conf = (password: string) => `[Distribution]
Distribution=debian
Release=bookworm

[Output]
Format=directory
ImageId=secret

[Content]
Packages=systemd
RootPassword=${password}

[Build]
PackageCacheDirectory=${PACKAGE_CACHE}
`;

/** Files under `dir` (binary included) that contain `needle`, as `grep -r` finds them. */
function filesContaining(dir: string, needle: string): string[] {
  try {
    return execFileSync("grep", ["-r", "-l", "-a", "-F", needle, dir], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean);
  } catch (err) {
    if ((err as { status?: number }).status === 1) return []; // no match
    throw err;
  }
}

describe("a root password", () => {
  let dir = "";
  const env = () => ({ MKOSI_CACHE_DIR: join(dir, ".cache") });
  const printed: string[] = [];
  const mkosi = async (args: string[]) => {
    const run = await runMkosi(args, { cwd: dir, env: env() });
    printed.push(run.stdout, run.stderr);
    return run;
  };

  beforeAll(async () => {
    dir = await makeTree({
      files: {
        "mkosi.conf": conf(SECRET),
        // A script makes $MKOSI_CONFIG (which holds the password) an input of its step.
        "mkosi.postinst": '#!/bin/sh\ntest -s "$MKOSI_CONFIG"\n',
      },
    });
    const first = await mkosi(["--json", "build"]);
    if (first.code !== 0) throw new Error(`build failed:\n${first.stderr}\n${first.stdout.slice(-3000)}`);
    writeFileSync(join(dir, "mkosi.conf"), conf(`${SECRET}-changed`));
  }, 900_000);

  it("is explained as changed, without its value, in every graph format", async () => {
    const text = await mkosi(["graph"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/systemd-setup .*RootPassword= changed \(secret\)/);
    const why = await mkosi(["graph", "--why", "systemd-setup"]);
    expect(why.stdout).toMatch(/RootPassword= \(secret setting, modified\)/);
    for (const format of ["json", "dot", "mermaid"])
      expect((await mkosi(["graph", `--format=${format}`])).code).toBe(0);
  });

  it("is summarized as (set)", async () => {
    const summary = await mkosi(["summary"]);
    expect(summary.stdout).toMatch(/Root Password: \(set\)/);
  });

  it("rebuilds the steps that read it, and neither the cache nor any printed stream holds it", async () => {
    const json = await mkosi(["--json", "build"]);
    expect(json.code).toBe(0);
    expect(json.ran).toContain("main/systemd-setup");
    expect(json.ran).toContain("main/postinst");
    expect(json.ran).not.toContain("main/packages");
    const plain = await mkosi(["-f", "build"]);
    expect(plain.code).toBe(0);
    for (const stream of printed) expect(stream).not.toContain(SECRET);
    expect(filesContaining(join(dir, ".cache"), SECRET)).toEqual([]);
    // The image has the password's hash, as mkosi writes it.
    expect(readFileSync(join(dir, "secret", "etc/shadow"), "utf8")).toMatch(/^root:\$6\$/m);
  });

  it("stays in --json summary, whose shape is upstream's", async () => {
    const summary = await runMkosi(["--json", "summary"], { cwd: dir, env: env() });
    expect(summary.stdout).toContain(`${SECRET}-changed`);
  });
});
