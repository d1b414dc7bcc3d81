// Every dnf distribution bootstraps from a local repository (the same test packages; Fedora has its own
// suite in dnf.test.ts): where LocalMirror= is honoured with it, else (Alma, Rocky, whose repositories
// always come from their mirror) with Mirror= pointing at a file:// tree laid out as the distribution's
// mirror is. Each distribution's keys are placeholders in a sandbox tree (they are looked up even with
// RepositoryKeyCheck=no), its rpm database where the distribution keeps it.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadInstaller } from "../../distros/installer.js";
import type { DistroConfig } from "../../distros/types.js";
import { unmountUnder, withOverlay } from "../../sandbox/overlay.js";
import { ensureDir } from "./helpers.js";
import { haveRpmTools, rpmRepository, testPackages } from "./localrepo.js";

const canRun = process.getuid?.() === 0 && haveRpmTools;

interface Case {
  distribution: string;
  release: string;
  keys: string[];
  /** Mirror= tree: the repository directories below the mirror (else LocalMirror= is used). */
  mirror?: string[];
  bootstrap: string[];
  dbpath: string;
}

const CASES: Case[] = [
  {
    distribution: "centos",
    release: "10",
    keys: ["RPM-GPG-KEY-CentOS-Official-SHA256", "RPM-GPG-KEY-CentOS-SIG-Extras"],
    bootstrap: ["basesystem", "bash", "filesystem"],
    dbpath: "/usr/lib/sysimage/rpm",
  },
  {
    distribution: "centos",
    release: "9",
    keys: ["RPM-GPG-KEY-CentOS-Official", "RPM-GPG-KEY-CentOS-SIG-Extras"],
    bootstrap: ["basesystem", "bash", "filesystem"],
    dbpath: "/var/lib/rpm",
  },
  {
    distribution: "alma",
    release: "10",
    keys: ["RPM-GPG-KEY-AlmaLinux-10", "RPM-GPG-KEY-EPEL-10"],
    mirror: ["10/BaseOS/x86_64/os", "10/AppStream/x86_64/os", "10/extras/x86_64/os", "10/CRB/x86_64/os"],
    bootstrap: ["basesystem", "bash", "filesystem"],
    dbpath: "/usr/lib/sysimage/rpm",
  },
  {
    distribution: "rocky",
    release: "9",
    keys: ["RPM-GPG-KEY-Rocky-9", "RPM-GPG-KEY-EPEL-9"],
    mirror: ["9/BaseOS/x86_64/os", "9/AppStream/x86_64/os", "9/extras/x86_64/os", "9/CRB/x86_64/os"],
    bootstrap: ["basesystem", "bash", "filesystem"],
    dbpath: "/var/lib/rpm",
  },
  {
    distribution: "rhel",
    release: "10",
    keys: ["RPM-GPG-KEY-redhat10-release", "RPM-GPG-KEY-EPEL-10"],
    bootstrap: ["basesystem", "bash", "filesystem"],
    dbpath: "/usr/lib/sysimage/rpm",
  },
  {
    distribution: "rhel-ubi",
    release: "9",
    keys: ["RPM-GPG-KEY-redhat9-release", "RPM-GPG-KEY-EPEL-9"],
    bootstrap: ["basesystem", "bash", "filesystem"],
    dbpath: "/var/lib/rpm",
  },
  {
    distribution: "mageia",
    release: "cauldron",
    keys: ["RPM-GPG-KEY-Mageia"],
    bootstrap: ["filesystem"],
    dbpath: "/usr/lib/sysimage/rpm",
  },
  {
    distribution: "openmandriva",
    release: "cooker",
    keys: ["RPM-GPG-KEY-OpenMandriva"],
    bootstrap: ["filesystem"],
    dbpath: "/usr/lib/sysimage/rpm",
  },
  {
    distribution: "azure",
    release: "3.0",
    keys: ["MICROSOFT-RPM-GPG-KEY"],
    bootstrap: ["azurelinux-release", "filesystem"],
    dbpath: "/var/lib/rpm",
  },
];

describe.skipIf(!canRun)("dnf distributions from a local repository", () => {
  let base: string;
  let repo: string;
  let n = 0;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "mkosi-dnf-family-"));
    repo = join(base, "repo");
    await rpmRepository(testPackages(), repo);
  }, 300_000);

  afterAll(async () => {
    if (base) {
      await unmountUnder(base);
      await rm(base, { recursive: true, force: true });
    }
  });

  for (const c of CASES) {
    it(`${c.distribution} ${c.release}: bootstraps ${c.bootstrap.join(", ")} and installs test-app`, async () => {
      const id = `${c.distribution}-${c.release}`;
      const sandbox = join(base, `sandbox-${id}`);
      await mkdir(join(sandbox, "etc/pki/rpm-gpg"), { recursive: true });
      for (const key of c.keys) await writeFile(join(sandbox, "etc/pki/rpm-gpg", key), "placeholder\n");
      let mirror: string | null = null;
      if (c.mirror) {
        mirror = join(base, `mirror-${id}`);
        // Hard-linked copies: only the mirror's directory is visible in the sandbox.
        for (const dir of c.mirror) {
          await mkdir(join(mirror, dir, ".."), { recursive: true });
          execFileSync("cp", ["-al", repo, join(mirror, dir)]);
        }
      }
      const config: DistroConfig = {
        Distribution: c.distribution,
        Release: c.release,
        Architecture: "x86-64",
        Mirror: mirror ? `file://${mirror}` : null,
        LocalMirror: mirror ? null : `file://${repo}`,
        RepositoryKeyCheck: false,
        Repositories: [],
        WithDocs: true,
        WithRecommends: false,
        RepositoryKeyFetch: false,
        Locale: null,
      };
      const installer = await loadInstaller(c.distribution);
      const ctx = async () => ({
        config,
        workDir: await ensureDir(join(base, "work", String(n++))),
        metadataDir: join(base, `meta-${id}`),
        packageCacheDir: await ensureDir(join(base, "pkgcache")),
        sandboxTrees: [{ Source: sandbox, Target: null }],
      });
      await installer.syncMetadata(await ctx());
      const upper = await ensureDir(join(base, `layer-${id}`));
      await withOverlay(
        {
          lowers: [],
          upper,
          work: await ensureDir(join(base, `work-${id}`)),
          target: await ensureDir(join(base, `mnt-${id}`)),
        },
        async (root) => {
          await installer.bootstrap(await ctx(), root);
          expect((await installer.listInstalled(root)).map((p) => p.name)).toEqual(
            expect.arrayContaining(c.bootstrap),
          );
          await installer.install(await ctx(), root, ["test-app"]);
          expect(existsSync(join(root, c.dbpath))).toBe(true);
          const names = execFileSync(
            "rpm",
            [`--root=${root}`, `--dbpath=${c.dbpath}`, "-qa", "--qf", "%{NAME}\\n"],
            {
              encoding: "utf8",
              env: { ...process.env, HOME: "/" },
            },
          );
          expect(names.split("\n")).toEqual(expect.arrayContaining([...c.bootstrap, "test-app", "test-lib"]));
        },
      );
    }, 300_000);
  }
});
