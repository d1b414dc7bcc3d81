// pacman against a local repository the test builds (bsdtar + repo-add): Arch's bootstrap (filesystem),
// packages with dependencies and install scriptlets, removal, PackageDirectories=, the script helpers
// and pacman's local database.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadInstaller } from "../../distros/installer.js";
import type { DistroConfig, PackageManagerContext } from "../../distros/types.js";
import { unmountUnder, withOverlay } from "../../sandbox/overlay.js";
import { runScripts } from "../../sandbox/scripts.js";
import { ensureDir, PACKAGE_CACHE } from "./helpers.js";
import { buildPacmanPackages, havePacmanTools, pacmanRepository, testPackages } from "./localrepo.js";

const canRun = process.getuid?.() === 0 && havePacmanTools;

describe.skipIf(!canRun)("pacman with a local repository", async () => {
  const arch = await loadInstaller("arch");
  let base: string;
  let repo: string;
  let baseRoot: string;
  let meta: string;
  let n = 0;
  const log: string[] = [];

  function config(over: Partial<DistroConfig> = {}): DistroConfig {
    return {
      Distribution: "arch",
      Release: "rolling",
      Architecture: "x86-64",
      Mirror: null,
      LocalMirror: `file://${repo}`,
      RepositoryKeyCheck: false,
      Repositories: [],
      WithDocs: true,
      WithRecommends: false,
      RepositoryKeyFetch: false,
      ...over,
    };
  }

  async function ctx(over: Partial<DistroConfig> = {}, extra: Partial<PackageManagerContext> = {}) {
    return {
      config: config(over),
      workDir: await ensureDir(join(base, "work", String(n++))),
      metadataDir: meta,
      packageCacheDir: await ensureDir(join(base, "pkgcache")),
      onOutput: (l: string) => log.push(l),
      ...extra,
    } satisfies PackageManagerContext;
  }

  async function layer(fn: (root: string) => Promise<void>, lowers?: string[]): Promise<string> {
    const id = n++;
    const upper = await ensureDir(join(base, `layer-${id}`));
    const work = await ensureDir(join(base, `ovl-work-${id}`));
    const target = await ensureDir(join(base, `mnt-${id}`));
    await withOverlay({ lowers: lowers ?? [baseRoot], upper, work, target }, fn);
    return upper;
  }

  const query = (root: string) =>
    execFileSync("pacman", ["--root", root, "--dbpath", join(root, "var/lib/pacman"), "-Q"], {
      encoding: "utf8",
    });

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "mkosi-pacman-test-"));
    repo = join(base, "repo");
    meta = await ensureDir(join(base, "meta"));
    await pacmanRepository(testPackages(), repo);
    await arch.syncMetadata(await ctx());
    baseRoot = await layer(async (root) => arch.bootstrap(await ctx(), root), []);
  }, 600_000);

  afterAll(async () => {
    if (process.env.MKOSI_TEST_LOG) await writeFile(process.env.MKOSI_TEST_LOG, log.join("\n"));
    if (base) {
      await unmountUnder(base);
      await rm(base, { recursive: true, force: true });
    }
  });

  it("bootstraps filesystem into pacman's local database", async () => {
    expect(query(baseRoot)).toBe("filesystem 3.18-1\n");
    expect(await readFile(join(baseRoot, "usr/lib/os-release"), "utf8")).toMatch(/^ID=mkosi-test$/m);
    expect(
      (await arch.listInstalled(baseRoot)).map((p) => `${p.name} ${p.version} ${p.architecture}`),
    ).toEqual(["filesystem 3.18-1 any"]);
    // The sync databases stay out of the image.
    expect(existsSync(join(baseRoot, "var/lib/pacman/sync"))).toBe(false);
  });

  it("installs packages with dependencies and scriptlets, and removes them", async () => {
    await layer(async (root) => {
      await arch.install(await ctx(), root, ["bash", "test-app", "test-user"]);
      expect(query(root)).toMatch(/^test-lib 1\.0-1$/m);
      expect(await readFile(join(root, "etc/passwd"), "utf8")).toMatch(/^testuser:x:990:990:/m);
      await arch.remove(await ctx(), root, ["test-app"]);
      expect(query(root)).not.toMatch(/^test-app /m);
    });
  });

  it("installs from a local repository of PackageDirectories= (its version wins)", async () => {
    const dir = await ensureDir(join(base, "pkgdir"));
    await buildPacmanPackages(
      testPackages("2.0").filter((p) => p.name === "test-app"),
      dir,
    );
    const local = await arch.createLocalRepository([dir], join(base, "localrepo"));
    expect(local?.packages).toEqual(["test-app-2.0-1-any.pkg.tar.zst"]);
    await layer(async (root) => {
      await arch.install(await ctx({}, { localRepository: local!.dir }), root, ["test-app"]);
      expect(query(root)).toMatch(/^test-app 2\.0-1$/m);
    });
  });

  it("runs a script that uses mkosi-install and pacman", async () => {
    const scripts = await ensureDir(join(base, "scripts"));
    const prepare = join(scripts, "mkosi.prepare");
    await writeFile(
      prepare,
      `#!/bin/sh\nset -e\nmkosi-install bash test-app\npacman -Q test-lib > "$BUILDROOT/pacman-q.txt"\n`,
    );
    await chmod(prepare, 0o755);
    const upper = await layer(async (root) => {
      const c = await ctx();
      await runScripts({
        config: {
          ...c.config,
          ImageId: "test",
          ImageVersion: "1",
          WithNetwork: false,
          WithTests: false,
          SourceDateEpoch: null,
        },
        root,
        workingDirectory: scripts,
        packageManager: await arch.scriptSupport(c),
        workDir: await ensureDir(join(base, "script-work")),
        configJson: "{}",
        onOutput: (l: string) => log.push(l),
        kind: "prepare",
        scripts: [prepare],
        phase: "final",
      });
    });
    expect(await readFile(join(upper, "pacman-q.txt"), "utf8")).toBe("test-lib 1.0-1\n");
  });

  it("checks signatures with RepositoryKeyCheck=yes: a keyring from archlinux-keyring, unsigned packages refused", async () => {
    // The keyring takes a minute to make: it is made once, in a package cache kept between runs (not the
    // apt tests' one: making it holds that cache's lock).
    const shared = await ensureDir(`${PACKAGE_CACHE}-pacman`);
    const c = await ctx(
      { RepositoryKeyCheck: true },
      { packageCacheDir: shared, metadataDir: await ensureDir(join(base, "meta-checked")) },
    );
    await arch.syncMetadata(c);
    expect(existsSync(join(shared, "pacman/gnupg-host/pubring.gpg"))).toBe(true);
    await layer(async (root) => {
      await expect(
        arch.install({ ...c, workDir: await ensureDir(join(base, "work-checked")) }, root, ["test-tool"]),
      ).rejects.toThrow(/test-tool-1\.0-1-any\.pkg\.tar\.zst\.sig/);
    });
  }, 300_000);

  it("cleans pacman's metadata when pacman is not in the image", async () => {
    await layer(async (root) => {
      await arch.cleanMetadata(root, "auto");
      expect(existsSync(join(root, "var/lib/pacman"))).toBe(false);
    });
  });
});
