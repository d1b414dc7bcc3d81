// apt against a local repository the test builds (dpkg-deb + dpkg-scanpackages) for Debian, Ubuntu and
// Kali (LocalMirror=): the essential set as the bootstrap, packages with dependencies and maintainer
// scripts, removal, and dpkg's database.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadInstaller } from "../../distros/installer.js";
import type { DistroConfig, PackageManagerContext } from "../../distros/types.js";
import { unmountUnder, withOverlay } from "../../sandbox/overlay.js";
import { canRunApt, ensureDir } from "./helpers.js";
import { debRepository, testPackages } from "./localrepo.js";

const canRun = canRunApt && existsSync("/usr/bin/dpkg-scanpackages") && existsSync("/bin/busybox");

describe.skipIf(!canRun)("apt with a local repository", () => {
  let base: string;
  let repo: string;
  let n = 0;
  const log: string[] = [];

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "mkosi-apt-local-"));
    repo = join(base, "repo");
    await debRepository(testPackages(), repo, ["bookworm", "noble", "kali-rolling"]);
  }, 300_000);

  afterAll(async () => {
    if (base) {
      await unmountUnder(base);
      await rm(base, { recursive: true, force: true });
    }
  });

  const cases: [string, string][] = [
    ["debian", "bookworm"],
    ["ubuntu", "noble"],
    ["kali", "kali-rolling"],
  ];
  for (const [distribution, release] of cases) {
    it(`${distribution} ${release}: bootstrap, install with dependencies and maintainer scripts, remove`, async () => {
      const installer = await loadInstaller(distribution);
      const config: DistroConfig = {
        Distribution: distribution,
        Release: release,
        Architecture: "x86-64",
        Mirror: null,
        LocalMirror: `file://${repo}`,
        RepositoryKeyCheck: true,
        Repositories: [],
        WithDocs: true,
        WithRecommends: false,
      };
      const meta = await ensureDir(join(base, `meta-${distribution}`));
      const ctx = async (): Promise<PackageManagerContext> => ({
        config,
        workDir: await ensureDir(join(base, "work", String(n++))),
        metadataDir: meta,
        packageCacheDir: await ensureDir(join(base, "pkgcache")),
        onOutput: (l) => log.push(l),
      });
      await installer.syncMetadata(await ctx());
      const id = n++;
      const upper = await ensureDir(join(base, `layer-${id}`));
      await withOverlay(
        {
          lowers: [],
          upper,
          work: await ensureDir(join(base, `ovl-work-${id}`)),
          target: await ensureDir(join(base, `mnt-${id}`)),
        },
        async (root) => {
          await installer.bootstrap(await ctx(), root);
          expect((await installer.listInstalled(root)).map((p) => p.name)).toEqual(["bash", "filesystem"]);
          await installer.install(await ctx(), root, ["test-app", "test-user"]);
          expect(await readFile(join(root, "etc/passwd"), "utf8")).toMatch(/^testuser:x:990:990:/m);
          await installer.remove(await ctx(), root, ["test-app"]);
          const installed = await installer.listInstalled(root);
          // test-lib was only installed for test-app: apt removes it with it (AutomaticRemove).
          expect(installed.map((p) => `${p.name} ${p.version}`)).toEqual([
            "bash 5.2-1",
            "filesystem 3.18-1",
            "test-user 1.0-1",
          ]);
        },
      );
    }, 300_000);
  }
});
