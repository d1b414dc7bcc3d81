// zypper against a local repository the test builds (rpmbuild + createrepo_c): openSUSE's bootstrap
// (filesystem), packages with dependencies and scriptlets, removal, PackageDirectories=, the script
// helpers and the rpm database. The host's rpm has no ndb backend, so a sandbox tree selects sqlite.
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

const canRun = process.getuid?.() === 0 && haveRpmTools && existsSync("/usr/bin/zypper");

describe.skipIf(!canRun)("zypper with a local repository", async () => {
  const opensuse = await loadInstaller("opensuse");
  let base: string;
  let repo: string;
  let baseRoot: string;
  let meta: string;
  let sandbox: string;
  let n = 0;
  const log: string[] = [];

  function config(over: Partial<DistroConfig> = {}): DistroConfig {
    return {
      Distribution: "opensuse",
      Release: "tumbleweed",
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

  async function ctx(over: Partial<DistroConfig> = {}, extra: Partial<PackageManagerContext> = {}) {
    return {
      config: config(over),
      workDir: await ensureDir(join(base, "work", String(n++))),
      metadataDir: meta,
      packageCacheDir: await ensureDir(join(base, "pkgcache")),
      sandboxTrees: [{ Source: sandbox, Target: null }],
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

  const rpmQuery = (root: string, ...args: string[]) =>
    execFileSync("rpm", [`--root=${root}`, "--dbpath=/usr/lib/sysimage/rpm", ...args], {
      encoding: "utf8",
      env: { ...process.env, HOME: "/" },
    });

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "mkosi-zypper-test-"));
    repo = join(base, "repo");
    meta = await ensureDir(join(base, "meta"));
    sandbox = join(base, "sandbox");
    await mkdir(join(sandbox, "etc/rpm"), { recursive: true });
    await writeFile(join(sandbox, "etc/rpm/macros.db_backend"), "%_db_backend sqlite");
    await mkdir(join(sandbox, "etc/pki/rpm-gpg"), { recursive: true });
    await writeFile(join(sandbox, "etc/pki/rpm-gpg/RPM-GPG-KEY-openSUSE-Tumbleweed"), "placeholder\n");
    await rpmRepository(testPackages(), repo);
    await opensuse.syncMetadata(await ctx());
    baseRoot = await layer(async (root) => opensuse.bootstrap(await ctx(), root), []);
  }, 600_000);

  afterAll(async () => {
    if (process.env.MKOSI_TEST_LOG) await writeFile(process.env.MKOSI_TEST_LOG, log.join("\n"));
    if (base) {
      await unmountUnder(base);
      await rm(base, { recursive: true, force: true });
    }
  });

  it("bootstraps filesystem into a valid rpm database", async () => {
    const names = (await opensuse.listInstalled(baseRoot)).map((p) => `${p.name} ${p.version}`);
    expect(names).toEqual(["filesystem 3.18-1"]);
    expect(rpmQuery(baseRoot, "-qa", "--qf", "%{NAME}\n")).toBe("filesystem\n");
  });

  it("installs packages with dependencies and scriptlets, and removes them", async () => {
    await layer(async (root) => {
      await opensuse.install(await ctx(), root, ["test-app", "test-user"]);
      expect(rpmQuery(root, "-q", "test-lib", "--qf", "%{VERSION}")).toBe("1.0");
      expect(await readFile(join(root, "etc/passwd"), "utf8")).toMatch(/^testuser:x:990:990:/m);
      await opensuse.remove(await ctx(), root, ["test-app"]);
      const names = (await opensuse.listInstalled(root)).map((p) => p.name);
      expect(names).not.toContain("test-app");
      expect(names).toContain("test-user");
    });
  });

  it("installs from a local repository of PackageDirectories= (its version wins)", async () => {
    const dir = await ensureDir(join(base, "pkgdir"));
    await buildRpms(
      testPackages("2.0").filter((p) => p.name === "test-app"),
      dir,
    );
    const local = await opensuse.createLocalRepository([dir], join(base, "localrepo"));
    await layer(async (root) => {
      await opensuse.install(await ctx({}, { localRepository: local!.dir }), root, ["test-app"]);
      expect(rpmQuery(root, "-q", "test-app", "--qf", "%{VERSION}")).toBe("2.0");
    });
  });

  it("RepositoryKeyCheck=yes: the key from a sandbox tree is imported and signed packages install", async () => {
    const signed = join(base, "signed");
    await buildRpms(testPackages(), signed);
    const { home, publicKey } = await signingKey(join(base, "signing"));
    await signRpms(signed, home);
    execFileSync("createrepo_c", ["--quiet", signed]);
    // zypper checks the repository index's signature too, as openSUSE's repositories are signed.
    execFileSync(
      "gpg",
      ["--batch", "--yes", "--armor", "--detach-sign", join(signed, "repodata/repomd.xml")],
      {
        env: { ...process.env, GNUPGHOME: home },
      },
    );
    const keyed = join(base, "keyed-sandbox");
    await mkdir(join(keyed, "etc/pki/rpm-gpg"), { recursive: true });
    await mkdir(join(keyed, "etc/rpm"), { recursive: true });
    await writeFile(join(keyed, "etc/rpm/macros.db_backend"), "%_db_backend sqlite");
    await writeFile(join(keyed, "etc/pki/rpm-gpg/RPM-GPG-KEY-openSUSE-Tumbleweed"), publicKey);
    // LocalMirror= has no keys (as in the reference): a mirror tree, where Tumbleweed's repositories are.
    const mirror = join(base, "mirror");
    for (const dir of ["tumbleweed/repo/oss", "update/tumbleweed"]) {
      await mkdir(join(mirror, dir, ".."), { recursive: true });
      execFileSync("cp", ["-al", signed, join(mirror, dir)]);
    }
    const unsignedMirror = join(base, "unsigned-mirror");
    for (const dir of ["tumbleweed/repo/oss", "update/tumbleweed"]) {
      await mkdir(join(unsignedMirror, dir, ".."), { recursive: true });
      execFileSync("cp", ["-al", repo, join(unsignedMirror, dir)]);
    }
    const checked = async (tree: string) =>
      ctx(
        { RepositoryKeyCheck: true, LocalMirror: null, Mirror: `file://${tree}` },
        {
          metadataDir: await ensureDir(join(base, `meta-checked-${n++}`)),
          sandboxTrees: [{ Source: keyed, Target: null }],
        },
      );
    const good = await checked(mirror);
    await opensuse.syncMetadata(good);
    await layer(async (root) => {
      await opensuse.bootstrap(
        { ...good, workDir: await ensureDir(join(base, `work-checked-${n++}`)) },
        root,
      );
      expect(rpmQuery(root, "-qa", "gpg-pubkey*")).toMatch(/^gpg-pubkey-/m);
      await opensuse.install({ ...good, workDir: await ensureDir(join(base, `work-checked-${n++}`)) }, root, [
        "test-app",
      ]);
    }, []);
    // An unsigned repository is refused when its metadata is synced.
    await expect(opensuse.syncMetadata(await checked(unsignedMirror))).rejects.toThrow(/is unsigned/);
  });

  it("runs a script that uses mkosi-install and rpm", async () => {
    const scripts = await ensureDir(join(base, "scripts"));
    const prepare = join(scripts, "mkosi.prepare");
    await writeFile(
      prepare,
      `#!/bin/sh\nset -e\nmkosi-install test-app\nrpm -q test-lib > "$BUILDROOT/rpm-q.txt"\n`,
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
        packageManager: await opensuse.scriptSupport(c),
        workDir: await ensureDir(join(base, "script-work")),
        configJson: "{}",
        onOutput: (l: string) => log.push(l),
        kind: "prepare",
        scripts: [prepare],
        phase: "final",
      });
    });
    expect(await readFile(join(upper, "rpm-q.txt"), "utf8")).toBe("test-lib-1.0-1.noarch\n");
  });
});
