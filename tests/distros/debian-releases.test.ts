// Bootstraps of other Debian releases (trixie, sid). They download a second set of packages, so they run
// only when asked: MKOSI_TEST_RELEASES=trixie,sid npx vitest run tests/distros/debian-releases.test.ts
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadInstaller } from "../../distros/installer.js";
import type { PackageManagerContext } from "../../distros/types.js";
import { bookworm, canRunApt, ensureDir, METADATA_CACHE, PACKAGE_CACHE } from "./helpers.js";

const releases = (process.env.MKOSI_TEST_RELEASES ?? "").split(",").filter(Boolean);

describe.skipIf(!canRunApt || releases.length === 0)("other Debian releases", () => {
  it.each(releases)(
    "bootstraps %s and installs apt",
    async (release) => {
      const base = await mkdtemp(join(tmpdir(), `mkosi-${release}-`));
      let n = 0;
      const ctx = async (): Promise<PackageManagerContext> => ({
        config: bookworm({ Release: release }),
        workDir: await ensureDir(join(base, "work", String(n++))),
        metadataDir: join(METADATA_CACHE, `debian-${release}-x86-64`),
        packageCacheDir: await ensureDir(PACKAGE_CACHE),
      });
      try {
        const debian = await loadInstaller("debian");
        await debian.syncMetadata(await ctx());
        const root = await ensureDir(join(base, "root"));
        await debian.bootstrap(await ctx(), root);
        await debian.install(await ctx(), root, ["apt"]);
        const osRelease = await readFile(join(root, "usr/lib/os-release"), "utf8");
        if (release === "sid" || release === "unstable") {
          expect(osRelease).toMatch(/^VERSION_CODENAME=sid$/m);
          expect(existsSync(join(root, "usr/lib/os-release.dpkg"))).toBe(true);
        } else {
          expect(osRelease).toMatch(new RegExp(`^VERSION_CODENAME=${release}$`, "m"));
        }
        const sources = await readFile(join(root, `etc/apt/sources.list.d/${release}.sources`), "utf8");
        expect(sources).toMatch(new RegExp(`Suites: ${release}\\n`));
      } finally {
        await rm(base, { recursive: true, force: true });
      }
    },
    900_000,
  );
});
