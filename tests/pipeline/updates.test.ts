// Picking up repository updates, for every package manager: a plain `mkosi build` stays offline and
// reuses the synced metadata; `mkosi -f build` syncs again, and the steps that install packages rerun
// only when the metadata changed (their key holds its digest): an unchanged repository reruns nothing
// but the sync (and the publishing of the output -f removed), a new package version reaches the image.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildPacmanPackages,
  buildRpms,
  debRepository,
  havePacmanTools,
  haveRpmTools,
  pacmanRepository,
  rpmRepository,
  type TestPackage,
  testPackages,
} from "../distros/localrepo.js";
import { makeTree, runMkosi } from "./harness.js";

const root = process.getuid?.() === 0;
const newApp = () => testPackages("2.0").filter((p) => p.name === "test-app");

interface Case {
  distribution: string;
  release: string;
  ready: boolean;
  sandbox: (repo: string) => Record<string, string>;
  /** Make the repository at `dir` with `packages`. */
  create: (packages: TestPackage[], dir: string) => Promise<void>;
  /** Add `packages` to the repository at `dir`. */
  add: (packages: TestPackage[], dir: string) => Promise<void>;
}

const CASES: Case[] = [
  {
    distribution: "fedora",
    release: "41",
    ready: haveRpmTools,
    sandbox: () => ({ "mkosi.sandbox/etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-41-primary": "placeholder\n" }),
    create: rpmRepository,
    add: async (packages, dir) => {
      await buildRpms(packages, dir);
      execFileSync("createrepo_c", ["--quiet", "--update", dir]);
    },
  },
  {
    distribution: "opensuse",
    release: "tumbleweed",
    ready: haveRpmTools && existsSync("/usr/bin/zypper"),
    sandbox: () => ({
      "mkosi.sandbox/etc/pki/rpm-gpg/RPM-GPG-KEY-openSUSE-Tumbleweed": "placeholder\n",
      "mkosi.sandbox/etc/rpm/macros.db_backend": "%_db_backend sqlite",
    }),
    create: rpmRepository,
    add: async (packages, dir) => {
      await buildRpms(packages, dir);
      execFileSync("createrepo_c", ["--quiet", "--update", dir]);
    },
  },
  {
    distribution: "arch",
    release: "rolling",
    ready: havePacmanTools,
    sandbox: () => ({}),
    create: (packages, dir) => pacmanRepository(packages, dir),
    add: async (packages, dir) => {
      const files = await buildPacmanPackages(packages, dir);
      execFileSync("repo-add", ["--quiet", join(dir, "core.db.tar.gz"), ...files.map((f) => join(dir, f))]);
    },
  },
  {
    distribution: "debian",
    release: "bookworm",
    ready: existsSync("/usr/bin/apt-get") && existsSync("/usr/bin/dpkg-scanpackages"),
    // The harness's sandbox tree points apt at the host's Debian mirror; here it is the local repository.
    sandbox: (repo) => ({
      "mkosi.sandbox/etc/apt/sources.list.d/mkosi.sources": `Types: deb\nURIs: file://${repo}\nSuites: bookworm\nComponents: main\nTrusted: yes\n`,
    }),
    create: (packages, dir) => debRepository(packages, dir, ["bookworm"]),
    add: (packages, dir) => debRepository(packages, dir, ["bookworm"]),
  },
];

let base = "";
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "mkosi-updates-"));
});
afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

for (const c of CASES) {
  describe.skipIf(!root || !c.ready)(`${c.distribution}: repository updates`, () => {
    let dir = "";
    let repo = "";
    const env = () => ({ MKOSI_CACHE_DIR: join(dir, ".cache") });
    const build = async (...args: string[]) => {
      const run = await runMkosi(["--json", ...args, "build"], { cwd: dir, env: env() });
      if (run.code !== 0)
        throw new Error(`build failed (${run.code}):\n${run.stderr}\n${run.stdout.slice(-3000)}`);
      return run;
    };
    const appVersion = () =>
      readFileSync(join(dir, "image/usr/bin/test-app"), "utf8").match(/test-app (\S+):/)?.[1];

    beforeAll(async () => {
      repo = join(base, `repo-${c.distribution}`);
      await c.create(testPackages(), repo);
      const cache = join(base, `pkgcache-${c.distribution}`);
      await mkdir(cache, { recursive: true });
      dir = await makeTree({
        files: {
          "mkosi.conf": `[Distribution]
Distribution=${c.distribution}
Release=${c.release}
LocalMirror=file://${repo}
RepositoryKeyCheck=no

[Output]
Format=directory

[Content]
Packages=test-app

[Build]
PackageCacheDirectory=${cache}
`,
          ...c.sandbox(repo),
        },
      });
      await build();
    }, 600_000);
    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("a plain build runs nothing, not even the sync", async () => {
      expect(appVersion()).toBe("1.0");
      expect((await build()).ran).toEqual([]);
    });

    it("-f syncs again; with the repository unchanged nothing else reruns", async () => {
      const run = await build("-f");
      expect([...run.ran].sort()).toEqual(["main/metadata", "main/publish"]);
      expect(appVersion()).toBe("1.0");
    });

    it("a new version in the repository: a plain build keeps the synced metadata, -f installs it", async () => {
      await c.add(newApp(), repo);
      expect((await build()).ran).toEqual([]);
      expect(appVersion()).toBe("1.0");
      const run = await build("-f");
      expect(run.ran).toContain("main/metadata");
      expect(run.ran).toContain("main/packages");
      expect(appVersion()).toBe("2.0");
    });
  });
}
