// dnf against a local repository the test builds (rpmbuild + createrepo_c): Fedora's bootstrap
// (basesystem), packages with dependencies, scriptlets, a systemd unit, removal, the local repository
// of PackageDirectories=, the script helpers, metadata cleanup and the rpm database.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadInstaller } from "../../distros/installer.js";
import type { DistroConfig, PackageManagerContext } from "../../distros/types.js";
import { unmountUnder, withOverlay } from "../../sandbox/overlay.js";
import { runScripts } from "../../sandbox/scripts.js";
import { ensureDir } from "./helpers.js";
import { buildRpms, haveRpmTools, rpmRepository, signingKey, signRpms, testPackages } from "./localrepo.js";

const canRun = process.getuid?.() === 0 && haveRpmTools;

describe.skipIf(!canRun)("dnf with a local repository", async () => {
  const fedora = await loadInstaller("fedora");
  let base: string;
  let repo: string;
  let baseRoot: string;
  let meta: string;
  let pkgcache: string;
  let keys: string;
  let n = 0;
  const log: string[] = [];

  function config(over: Partial<DistroConfig> = {}): DistroConfig {
    return {
      Distribution: "fedora",
      Release: "41",
      Architecture: "x86-64",
      Mirror: null,
      LocalMirror: `file://${repo}`,
      RepositoryKeyCheck: false,
      Repositories: [],
      WithDocs: true,
      WithRecommends: false,
      RepositoryKeyFetch: false,
      Locale: null,
      ...over,
    };
  }

  async function ctx(
    over: Partial<DistroConfig> = {},
    extra: Partial<PackageManagerContext> = {},
  ): Promise<PackageManagerContext> {
    return {
      config: config(over),
      workDir: await ensureDir(join(base, "work", String(n++))),
      metadataDir: meta,
      packageCacheDir: pkgcache,
      sandboxTrees: [{ Source: keys, Target: null }],
      onOutput: (l) => log.push(l),
      ...extra,
    };
  }

  async function layer(fn: (root: string) => Promise<void>, lowers?: string[]): Promise<string> {
    const id = n++;
    const upper = await ensureDir(join(base, `layer-${id}`));
    const work = await ensureDir(join(base, `ovl-work-${id}`));
    const target = await ensureDir(join(base, `mnt-${id}`));
    await withOverlay({ lowers: lowers ?? [baseRoot], upper, work, target }, fn);
    return upper;
  }

  const rpmQuery = (root: string, ...args: string[]) =>
    execFileSync("rpm", [`--root=${root}`, "--dbpath=/usr/lib/sysimage/rpm", ...args], {
      encoding: "utf8",
      env: { ...process.env, HOME: "/" },
    });

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "mkosi-dnf-test-"));
    repo = join(base, "repo");
    meta = await ensureDir(join(base, "meta"));
    pkgcache = await ensureDir(join(base, "pkgcache"));
    // The key is looked up even with RepositoryKeyCheck=no; a placeholder in a sandbox tree will do.
    keys = join(base, "sandbox");
    await mkdir(join(keys, "etc/pki/rpm-gpg"), { recursive: true });
    await writeFile(join(keys, "etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-41-primary"), "placeholder\n");
    await rpmRepository(testPackages(), repo);
    await fedora.syncMetadata(await ctx());
    baseRoot = await layer(async (root) => fedora.bootstrap(await ctx(), root), []);
  }, 600_000);

  afterAll(async () => {
    if (process.env.MKOSI_TEST_LOG) await writeFile(process.env.MKOSI_TEST_LOG, log.join("\n"));
    if (base) {
      await unmountUnder(base);
      await rm(base, { recursive: true, force: true });
    }
  });

  it("bootstraps basesystem with its dependencies into a valid rpm database", async () => {
    const names = rpmQuery(baseRoot, "-qa", "--qf", "%{NAME}\n").split("\n").filter(Boolean).sort();
    expect(names).toEqual(["basesystem", "bash", "filesystem"]);
    expect(existsSync(join(baseRoot, "usr/bin/busybox"))).toBe(true);
    expect(await readFile(join(baseRoot, "usr/lib/os-release"), "utf8")).toMatch(/^ID=mkosi-test$/m);
    // dnf's logs do not land in the image; its history does.
    expect(existsSync(join(baseRoot, "var/log/dnf.log"))).toBe(false);
    const installed = await fedora.listInstalled(baseRoot);
    expect(installed.map((p) => [p.name, p.version])).toEqual([
      ["basesystem", "11-1"],
      ["bash", "5.2-1"],
      ["filesystem", "3.18-1"],
    ]);
  });

  it("installs packages with dependencies and runs their scriptlets", async () => {
    const upper = await layer(async (root) => {
      await fedora.install(await ctx(), root, ["test-app", "test-user", "test-service"]);
      expect(rpmQuery(root, "-q", "test-lib", "--qf", "%{VERSION}")).toBe("1.0");
      expect(await readFile(join(root, "etc/passwd"), "utf8")).toMatch(/^testuser:x:990:990:/m);
      expect(existsSync(join(root, "usr/lib/systemd/system/test-service.service"))).toBe(true);
      // The rpm database verifies.
      execFileSync("rpm", [`--root=${root}`, "--dbpath=/usr/lib/sysimage/rpm", "--verifydb"], {
        env: { ...process.env, HOME: "/" },
      });
      await fedora.remove(await ctx(), root, ["test-service"]);
      expect(existsSync(join(root, "usr/lib/systemd/system/test-service.service"))).toBe(false);
      const names = (await fedora.listInstalled(root)).map((p) => p.name);
      expect(names).toContain("test-lib");
      expect(names).not.toContain("test-service");
    });
    expect(existsSync(join(upper, "usr/bin/test-app"))).toBe(true);
    // Nothing was downloaded into the synced metadata (file:// repositories are read in place).
    expect(execFileSync("find", [meta, "-name", "*.rpm"], { encoding: "utf8" })).toBe("");
  });

  it("installs from a local repository of PackageDirectories= (its version wins)", async () => {
    const dir = await ensureDir(join(base, "pkgdir"));
    await buildRpms(
      testPackages("2.0").filter((p) => p.name === "test-app"),
      dir,
    );
    const local = await fedora.createLocalRepository([dir], join(base, "localrepo"));
    expect(local?.packages).toEqual(["test-app-2.0-1.noarch.rpm"]);
    await layer(async (root) => {
      await fedora.install(await ctx({}, { localRepository: local!.dir }), root, ["test-app"]);
      expect(rpmQuery(root, "-q", "test-app", "--qf", "%{VERSION}")).toBe("2.0");
    });
  });

  it("runs a script that uses mkosi-install, rpm and dnf", async () => {
    const scripts = await ensureDir(join(base, "scripts"));
    const prepare = join(scripts, "mkosi.prepare");
    await writeFile(
      prepare,
      `#!/bin/sh\nset -e\nmkosi-install test-app\nrpm -q test-lib > "$BUILDROOT/rpm-q.txt"\ndnf --version >/dev/null\n`,
    );
    await chmod(prepare, 0o755);
    const upper = await layer(async (root) => {
      const c = await ctx();
      const support = await fedora.scriptSupport(c);
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
        packageManager: support,
        workDir: await ensureDir(join(base, "script-work")),
        configJson: "{}",
        onOutput: (l: string) => log.push(l),
        kind: "prepare",
        scripts: [prepare],
        phase: "final",
      });
    });
    expect(await readFile(join(upper, "rpm-q.txt"), "utf8")).toBe("test-lib-1.0-1.noarch\n");
    expect(existsSync(join(upper, "usr/bin/test-app"))).toBe(true);
  });

  it("cleans dnf's metadata and, with CleanPackageMetadata=yes, the rpm database", async () => {
    await layer(async (root) => {
      await fedora.install(await ctx(), root, ["test-app"]);
      expect(existsSync(join(root, "var/lib/dnf"))).toBe(true);
      await fedora.cleanMetadata(root, "auto"); // no dnf nor rpm in the image
      expect(existsSync(join(root, "var/lib/dnf"))).toBe(false);
      expect(existsSync(join(root, "usr/lib/sysimage/rpm"))).toBe(false);
    });
  });

  it("RepositoryKeyCheck=yes: signed packages install with the key from a sandbox tree, unsigned ones do not", async () => {
    const signed = join(base, "signed");
    await buildRpms(testPackages(), signed);
    const { home, publicKey } = await signingKey(join(base, "signing"));
    await signRpms(signed, home);
    execFileSync("createrepo_c", ["--quiet", signed]);
    const checkedKeys = join(base, "checked-sandbox");
    await mkdir(join(checkedKeys, "etc/pki/rpm-gpg"), { recursive: true });
    await writeFile(join(checkedKeys, "etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-41-primary"), publicKey);
    const checked = async (repository: string) =>
      ctx(
        { RepositoryKeyCheck: true, LocalMirror: `file://${repository}` },
        {
          metadataDir: await ensureDir(join(base, `meta-checked-${n++}`)),
          sandboxTrees: [{ Source: checkedKeys, Target: null }],
        },
      );
    const good = await checked(signed);
    await fedora.syncMetadata(good);
    await layer(async (root) => {
      await fedora.bootstrap({ ...good, workDir: await ensureDir(join(base, `work-checked-${n++}`)) }, root);
      // dnf imported the key into the image's rpm database.
      expect(rpmQuery(root, "-qa", "gpg-pubkey*")).toMatch(/^gpg-pubkey-/m);
    }, []);
    const bad = await checked(repo);
    await fedora.syncMetadata(bad);
    await layer(async (root) => {
      await expect(fedora.bootstrap(bad, root)).rejects.toThrow(/not signed|GPG check FAILED|NOKEY/);
    }, []);
  });

  it("syncs the same metadata twice to the same bytes", async () => {
    const again = await ensureDir(join(base, "meta2"));
    await fedora.syncMetadata({ ...(await ctx()), metadataDir: again });
    const digest = (dir: string) =>
      execFileSync("sh", ["-c", `cd ${dir} && find . -type f | sort | xargs sha256sum`], {
        encoding: "utf8",
      });
    expect(digest(again)).toBe(digest(meta));
  });
});
