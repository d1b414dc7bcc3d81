// Images of the rpm and Arch distributions built through bin/mkosi from local repositories this test
// builds once (tests/distros/localrepo.ts): Fedora with dnf, openSUSE with zypper, Arch with pacman.
// Each image exercises bootstrap, Packages=, RemovePackages=, VolatilePackages=, PackageDirectories=,
// mkosi-install in a prepare script, CleanPackageMetadata= and the manifest; the package database in
// the image must be valid (rpm -qa / pacman -Q with the image as root).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildPacmanPackages,
  buildRpms,
  extraPackage,
  havePacmanTools,
  haveRpmTools,
  pacmanRepository,
  rpmRepository,
  testPackages,
} from "../distros/localrepo.js";
import { makeTree, runMkosi } from "./harness.js";

const root = process.getuid?.() === 0;

let base = "";
let rpmRepo = "";
let rpmExtra = "";
let pacmanRepo = "";
let pacmanExtra = "";

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "mkosi-distributions-"));
  rpmRepo = join(base, "rpm-repo");
  rpmExtra = join(base, "rpm-extra");
  pacmanRepo = join(base, "pacman-repo");
  pacmanExtra = join(base, "pacman-extra");
  if (haveRpmTools) {
    await rpmRepository(testPackages(), rpmRepo);
    await buildRpms([extraPackage()], rpmExtra);
  }
  if (havePacmanTools) {
    await pacmanRepository(testPackages(), pacmanRepo);
    await buildPacmanPackages([extraPackage()], pacmanExtra);
  }
}, 300_000);

afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

const PREPARE = '#!/bin/sh\nset -e\n[ "$1" = final ] || exit 0\nmkosi-install test-tool\n';

function conf(distribution: string, release: string, mirror: string, extraDir: string): string {
  return `[Distribution]
Distribution=${distribution}
Release=${release}
LocalMirror=file://${mirror}
RepositoryKeyCheck=no

[Output]
Format=directory
ImageId=${distribution}-test
ManifestFormat=json

[Content]
Packages=test-app
         test-service
         test-user
RemovePackages=test-user
VolatilePackages=test-extra
PackageDirectories=${extraDir}
CleanPackageMetadata=no

[Build]
# The test packages are rebuilt for every run: a cache of its own, so no older build of the same name
# and version is found there.
PackageCacheDirectory=${join(base, `pkgcache-${distribution}`)}
`;
}

interface Case {
  distribution: string;
  release: string;
  ready: () => boolean;
  mirror: () => string;
  extra: () => string;
  /** Sandbox tree files the distribution needs here. */
  sandbox: Record<string, string>;
  /** The installed packages as the image's own database says (name version). */
  query: (image: string) => string[];
}

const rpmQuery = (image: string) =>
  execFileSync(
    "rpm",
    [`--root=${image}`, "--dbpath=/usr/lib/sysimage/rpm", "-qa", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\\n"],
    {
      encoding: "utf8",
      env: { ...process.env, HOME: "/" },
    },
  )
    .split("\n")
    .filter(Boolean)
    .sort();

const CASES: Case[] = [
  {
    distribution: "fedora",
    release: "41",
    ready: () => haveRpmTools,
    mirror: () => rpmRepo,
    extra: () => rpmExtra,
    // The key is looked up even with RepositoryKeyCheck=no.
    sandbox: { "mkosi.sandbox/etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-41-primary": "placeholder\n" },
    query: rpmQuery,
  },
  {
    distribution: "opensuse",
    release: "tumbleweed",
    ready: () => haveRpmTools && existsSync("/usr/bin/zypper"),
    mirror: () => rpmRepo,
    extra: () => rpmExtra,
    sandbox: {
      "mkosi.sandbox/etc/pki/rpm-gpg/RPM-GPG-KEY-openSUSE-Tumbleweed": "placeholder\n",
      // Debian's rpm has no ndb backend.
      "mkosi.sandbox/etc/rpm/macros.db_backend": "%_db_backend sqlite",
    },
    query: rpmQuery,
  },
  {
    distribution: "arch",
    release: "rolling",
    ready: () => havePacmanTools,
    mirror: () => pacmanRepo,
    extra: () => pacmanExtra,
    sandbox: {},
    query: (image) =>
      execFileSync("pacman", ["--root", image, "--dbpath", join(image, "var/lib/pacman"), "-Q"], {
        encoding: "utf8",
      })
        .split("\n")
        .filter(Boolean)
        .sort(),
  },
];

for (const c of CASES) {
  describe.skipIf(!root || !c.ready())(`${c.distribution} image from a local repository`, () => {
    let dir = "";
    let image = "";
    let stderr = "";
    beforeAll(async () => {
      await mkdir(join(base, `pkgcache-${c.distribution}`), { recursive: true });
      dir = await makeTree({
        files: {
          "mkosi.conf": conf(c.distribution, c.release, c.mirror(), c.extra()),
          "mkosi.prepare": PREPARE,
          ...c.sandbox,
        },
      });
      image = join(dir, `${c.distribution}-test`);
      const run = await runMkosi(["--json", "build"], {
        cwd: dir,
        env: { MKOSI_CACHE_DIR: join(dir, ".cache") },
      });
      stderr = run.stderr;
      if (run.code !== 0)
        throw new Error(`build failed (${run.code}):\n${run.stderr}\n${run.stdout.slice(-4000)}`);
    }, 600_000);
    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("has the packages, per the image's own package database", () => {
      expect(c.query(image)).toEqual(
        expect.arrayContaining([
          "filesystem 3.18-1",
          "test-app 1.0-1",
          "test-lib 1.0-1",
          "test-service 1.0-1",
          "test-tool 1.0-1",
          "test-extra 1.0-1",
        ]),
      );
      // RemovePackages=
      expect(c.query(image).some((p) => p.startsWith("test-user "))).toBe(false);
      expect(existsSync(join(image, "usr/lib/systemd/system/test-service.service"))).toBe(true);
      expect(readFileSync(join(image, "usr/share/test-extra/version"), "utf8")).toBe("1.0\n");
      expect(stderr).not.toMatch(/Traceback/);
    });

    it("lists them with versions in the manifest", () => {
      const manifest = JSON.parse(readFileSync(join(dir, `${c.distribution}-test.manifest`), "utf8"));
      expect(manifest.config.distribution).toBe(c.distribution);
      const packages = manifest.packages as { type: string; name: string; version: string }[];
      expect(packages.find((p) => p.name === "test-app")).toMatchObject({
        type: c.distribution === "arch" ? "pkg" : "rpm",
        version: "1.0-1",
      });
      expect(packages.map((p) => p.name)).not.toContain("test-user");
    });

    it("is up to date on a rebuild (no network, nothing runs)", async () => {
      const run = await runMkosi(["--json", "build"], {
        cwd: dir,
        env: { MKOSI_CACHE_DIR: join(dir, ".cache") },
      });
      expect(run.code).toBe(0);
      expect(run.ran).toEqual([]);
    });
  });
}

describe("mkosi graph shows each distribution's package manager nodes", () => {
  const all = [
    "fedora",
    "debian",
    "kali",
    "ubuntu",
    "arch",
    "opensuse",
    "mageia",
    "centos",
    "rhel",
    "rhel-ubi",
    "openmandriva",
    "rocky",
    "alma",
    "azure",
    "custom",
  ];
  it.each(all)("%s", async (distribution) => {
    const dir = await makeTree({
      files: {
        "mkosi.conf": `[Distribution]\nDistribution=${distribution}\n\n[Content]\nPackages=test-app\n`,
      },
    });
    try {
      const run = await runMkosi(["graph", "--format=json"], {
        cwd: dir,
        env: { MKOSI_CACHE_DIR: join(dir, ".cache") },
      });
      expect(run.code).toBe(0);
      const nodes = (JSON.parse(run.stdout) as { groups: { nodes: string[] }[] }).groups[0]!.nodes;
      if (distribution === "custom") {
        for (const step of ["metadata", "bootstrap", "packages"]) expect(nodes).not.toContain(`main/${step}`);
      } else
        expect(nodes.slice(0, 4)).toEqual([
          "main/metadata",
          "main/skeleton",
          "main/bootstrap",
          "main/packages",
        ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
