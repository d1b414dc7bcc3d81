// A distribution this machine cannot build fails before any work, with a message that says why: the
// package manager missing where it would run (naming the Debian package), an architecture or a release
// the distribution does not have, rpm without the database backend openSUSE needs.
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTree, runMkosi } from "./harness.js";

let base = "";
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "mkosi-preflight-"));
});
afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

async function build(conf: string, files: Record<string, string> = {}) {
  const dir = await makeTree(
    { files: { "mkosi.conf": conf, ...files } },
    join(base, String(Math.random()).slice(2)),
  );
  const run = await runMkosi(["--json", "build"], {
    cwd: dir,
    env: { MKOSI_CACHE_DIR: join(dir, ".cache") },
  });
  return { ...run, dir };
}

describe.skipIf(process.getuid?.() !== 0)("preflight", () => {
  it("names the Debian package of a package manager the tools tree lacks, before any work", async () => {
    const tree = join(base, "tools");
    await mkdir(join(tree, "usr/bin"), { recursive: true });
    const run = await build(`[Distribution]\nDistribution=arch\n\n[Build]\nToolsTree=${tree}\n`);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /main: Distribution=arch needs pacman, which the tools tree .* does not have \(Debian package pacman-package-manager\)/,
    );
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(run.ran).toEqual([]);
  });

  it("refuses SplitArtifacts=pcrs without the certificate the digests name, before any work", async () => {
    // Upstream fails with a bare assertion here.
    const run = await build("[Output]\nFormat=disk\nSplitArtifacts=uki,pcrs\n\n[Content]\nBootable=yes\n");
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/mkosi\.conf:\d+: SplitArtifacts=pcrs needs SignExpectedPcrCertificate=/);
    expect(run.ran).toEqual([]);
  });

  it("refuses an architecture the distribution does not have", async () => {
    const run = await build("[Distribution]\nDistribution=arch\nArchitecture=s390x\n");
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/Distribution=arch: Architecture s390x is not supported by Arch Linux/);
    expect(run.ran).toEqual([]);
  });

  it("refuses a release the distribution does not support", async () => {
    const run = await build("[Distribution]\nDistribution=centos\nRelease=8\n");
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/CentOS Stream 8 or earlier variants are not supported/);
    expect(run.ran).toEqual([]);
  });

  it("says when the host's rpm cannot write openSUSE's ndb database", async () => {
    const probe = await mkdtemp(join(base, "ndb-"));
    const r = spawnSync("rpm", ["--define", "_db_backend ndb", "--dbpath", probe, "--initdb"], {
      encoding: "utf8",
    });
    const hostHasNdb = r.status === 0 && !/invalid %_db_backend|dummy database/.test(r.stderr);
    const conf =
      "[Distribution]\nDistribution=opensuse\nLocalMirror=file:///nonexistent\nRepositoryKeyCheck=no\n";
    const run = await build(conf);
    if (hostHasNdb) expect(run.stderr).not.toMatch(/ndb/);
    else {
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/rpm cannot write the ndb database openSUSE uses; use a tools tree/);
      expect(run.ran).toEqual([]);
    }
  });
});
