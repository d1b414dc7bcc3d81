// Real apt runs against the host's Debian mirror: bootstrap once, then every test stacks its own
// overlay layer on the base root (as the pipeline does), so tests are independent and fast.
import { existsSync } from "node:fs";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadInstaller } from "../../distros/installer.js";

const debian = await loadInstaller("debian");

import type { DistroConfig, PackageManagerContext } from "../../distros/types.js";
import { mountsUnder, unmountUnder, withOverlay } from "../../sandbox/overlay.js";
import { runCommand } from "../../sandbox/run.js";
import { runScripts } from "../../sandbox/scripts.js";
import { bookworm, canRunApt, ensureDir, METADATA_CACHE, PACKAGE_CACHE } from "./helpers.js";

/** Regular files below `dir` (a layer), relative. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const go = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await go(p);
      // Alternatives' symlinks may dangle; whiteouts (0/0 char devices) are overlay bookkeeping.
      else if (e.isFile()) out.push(relative(dir, p));
    }
  };
  if (existsSync(dir)) await go(dir);
  return out;
}

describe.skipIf(!canRunApt)("debian via apt (real mirror)", () => {
  let base: string;
  let baseRoot: string;
  let n = 0;
  const meta = join(METADATA_CACHE, "debian-bookworm-x86-64");
  const log: string[] = [];

  async function ctx(
    over: Partial<DistroConfig> = {},
    extra: Partial<PackageManagerContext> = {},
  ): Promise<PackageManagerContext> {
    return {
      config: bookworm(over),
      workDir: await ensureDir(join(base, "work", String(n++))),
      metadataDir: meta,
      packageCacheDir: PACKAGE_CACHE,
      onOutput: (l) => log.push(l),
      ...extra,
    };
  }

  /** Run `fn` on a fresh layer above the base root; returns the layer (upper) directory. */
  async function layer(fn: (root: string) => Promise<void>, lowers?: string[]): Promise<string> {
    const id = n++;
    const upper = await ensureDir(join(base, `layer-${id}`));
    const work = await ensureDir(join(base, `ovl-work-${id}`));
    const target = await ensureDir(join(base, `mnt-${id}`));
    await withOverlay({ lowers: lowers ?? [baseRoot], upper, work, target }, fn);
    return upper;
  }

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "mkosi-debian-test-"));
    await ensureDir(PACKAGE_CACHE);
    await debian.syncMetadata(await ctx());
    // Bootstrap into an overlay layer with nothing below it, as the pipeline does.
    baseRoot = await layer(async (root) => debian.bootstrap(await ctx(), root), []);
  }, 600_000);

  afterAll(async () => {
    if (process.env.MKOSI_TEST_LOG) await writeFile(process.env.MKOSI_TEST_LOG, log.join("\n"));
    if (base) {
      await unmountUnder(base);
      await rm(base, { recursive: true, force: true });
    }
  });

  it("bootstraps the essential set with merged /usr and a dpkg database", async () => {
    expect(await readlink(join(baseRoot, "bin"))).toBe("usr/bin");
    expect(await readlink(join(baseRoot, "lib64"))).toBe("usr/lib64");
    const pkgs = await debian.listInstalled(baseRoot);
    const names = pkgs.map((p) => p.name);
    for (const p of ["base-files", "dpkg", "bash", "coreutils", "libc6"]) expect(names).toContain(p);
    expect(names).not.toContain("systemd");
    const libc = pkgs.find((p) => p.name === "libc6")!;
    expect(libc.architecture).toBe("amd64");
    expect(libc.size).toBeGreaterThan(1024 * 1024);
    expect(await readFile(join(baseRoot, "usr/lib/os-release"), "utf8")).toMatch(/VERSION_CODENAME=bookworm/);
    expect(existsSync(join(baseRoot, "usr/sbin/policy-rc.d"))).toBe(false);
    expect(existsSync(join(baseRoot, "var/log/dpkg.log"))).toBe(false);
    // dpkg in the image works on its own database.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format, not a template
    const r = await runCommand(["chroot", baseRoot, "dpkg-query", "-W", "-f=${Status}\\n", "bash"], {
      captureStdout: true,
    });
    expect(r.stdout.trim()).toBe("install ok installed");
  });

  it("installs packages into a layer (systemd, udev, dbus)", async () => {
    let names: string[] = [];
    const upper = await layer(async (root) => {
      await debian.install(await ctx(), root, ["systemd", "udev", "dbus"]);
      names = (await debian.listInstalled(root)).map((p) => p.name);
      const q = await runCommand(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format, not a template
        ["chroot", root, "dpkg-query", "-W", "-f=${Package} ${Status}\\n", "systemd", "dbus"],
        {
          captureStdout: true,
        },
      );
      expect(q.stdout).toMatch(/systemd install ok installed/);
      expect(q.stdout).toMatch(/dbus install ok installed/);
    });
    expect(names).toContain("udev");
    expect(existsSync(join(upper, "usr/lib/systemd/systemd"))).toBe(true);
    // apt in the image? not installed here, so no sources were written into the image.
    expect(existsSync(join(upper, "etc/apt/sources.list.d/bookworm.sources"))).toBe(false);
    // Nothing mounted remains.
    expect(existsSync(join(upper, "proc/self"))).toBe(false);
  }, 300_000);

  it("honours WithDocs=no (only copyright files below /usr/share/doc, no man pages)", async () => {
    const upper = await layer(async (root) => {
      await debian.install(await ctx({ WithDocs: false }), root, ["less", "apt"]);
    });
    const docs = (await walk(join(upper, "usr/share/doc"))).filter((p) => p.includes("/"));
    expect(docs.length).toBeGreaterThan(0);
    for (const p of docs) expect(p).toMatch(/^[^/]+\/copyright$/);
    expect(await walk(join(upper, "usr/share/man"))).toEqual([]);
    // apt is in the image now: its repository configuration was written for the image.
    const sources = await readFile(join(upper, "etc/apt/sources.list.d/bookworm.sources"), "utf8");
    expect(sources).toMatch(/Suites: bookworm-security/);
    expect(sources).toMatch(/Signed-By: \/usr\/share\/keyrings\/debian-archive-keyring.gpg/);
  }, 300_000);

  it("installs packages from PackageDirectories= (local repository, pinned above the archive)", async () => {
    // Build two packages: a new one and a local "hello" that must win over the archive's.
    const pkgdir = await ensureDir(join(base, "pkgdir"));
    for (const [name, version] of [
      ["mkosi-test-local", "1.0"],
      ["hello", "0.0.1-local"],
    ] as const) {
      const tree = await ensureDir(join(base, "pkgsrc", name));
      await mkdir(join(tree, "DEBIAN"), { recursive: true });
      await mkdir(join(tree, "usr/share", name), { recursive: true });
      await writeFile(join(tree, "usr/share", name, "marker"), `${name} ${version}\n`);
      await writeFile(
        join(tree, "DEBIAN/control"),
        `Package: ${name}\nVersion: ${version}\nArchitecture: all\nMaintainer: mkosi tests <t@example.org>\nDescription: test package\n`,
      );
      await runCommand([
        "dpkg-deb",
        "--root-owner-group",
        "--build",
        tree,
        join(pkgdir, `${name}_${version}_all.deb`),
      ]);
    }
    const repo = await debian.createLocalRepository([pkgdir], join(base, "localrepo"));
    expect(repo?.packages).toEqual(["hello_0.0.1-local_all.deb", "mkosi-test-local_1.0_all.deb"]);
    let pkgs: Awaited<ReturnType<typeof debian.listInstalled>> = [];
    await layer(async (root) => {
      await debian.install(await ctx({}, { localRepository: repo!.dir }), root, [
        "mkosi-test-local",
        "hello",
      ]);
      expect(await readFile(join(root, "usr/share/mkosi-test-local/marker"), "utf8")).toBe(
        "mkosi-test-local 1.0\n",
      );
      pkgs = await debian.listInstalled(root);
    });
    expect(pkgs.find((p) => p.name === "hello")?.version).toBe("0.0.1-local");
    expect(pkgs.find((p) => p.name === "mkosi-test-local")?.version).toBe("1.0");
    expect(
      await debian.createLocalRepository([join(base, "empty-nothing")], join(base, "r2")),
    ).toBeUndefined();
  }, 300_000);

  it("removes packages (RemovePackages=) and cleans metadata (CleanPackageMetadata=)", async () => {
    const l1 = await layer(async (root) => {
      await debian.install(await ctx(), root, ["less"]);
    });
    const l2 = await layer(
      async (root) => {
        expect(existsSync(join(root, "usr/bin/less"))).toBe(true);
        await debian.remove(await ctx(), root, ["less"]);
        expect(existsSync(join(root, "usr/bin/less"))).toBe(false);
        expect((await debian.listInstalled(root)).map((p) => p.name)).not.toContain("less");
        await mkdir(join(root, "var/lib/apt/lists"), { recursive: true });
        await writeFile(join(root, "var/lib/apt/lists/fake_Packages"), "x");
        await debian.cleanMetadata(root, "auto"); // no apt in the image: apt state goes, dpkg stays
        expect(existsSync(join(root, "var/lib/apt"))).toBe(false);
        expect(existsSync(join(root, "var/lib/dpkg/status"))).toBe(true);
        await debian.cleanMetadata(root, "yes");
        expect(existsSync(join(root, "var/lib/dpkg"))).toBe(false);
      },
      [baseRoot, l1],
    );
    // The deletion is a whiteout in the new layer.
    expect((await lstat(join(l2, "usr/bin/less"))).isCharacterDevice()).toBe(true);
  }, 300_000);

  it("runs a prepare script that uses mkosi-install, apt-get, dpkg-query and mkosi-chroot", async () => {
    const scripts = await ensureDir(join(base, "scripts"));
    const src = await ensureDir(join(base, "src"));
    await writeFile(join(src, "source-file"), "from sources\n");
    const prepare = join(scripts, "mkosi.prepare");
    await writeFile(
      prepare,
      `#!/bin/sh
set -e
echo "prepare arg=$1 srcdir=$SRCDIR pwd=$(pwd)"
mkosi-install file
useradd --create-home --uid 1234 mkosiuser
dpkg-query -W -f='\${Package} \${Status}\\n' file > "$BUILDROOT/dpkg-query.txt"
mkosi-chroot sh -c 'file --brief /usr/bin/file > /from-chroot.txt; cat "$SRCDIR/source-file" >> /from-chroot.txt; echo "$BUILDROOT" >> /from-chroot.txt'
`,
    );
    await chmod(prepare, 0o755);
    const chrootScript = join(scripts, "mkosi.postinst.chroot");
    await writeFile(
      chrootScript,
      `#!/bin/sh\nset -e\n[ -e /usr/bin/file ]\necho "$1 $SRCDIR $BUILDROOT" > /chroot-script.txt\n`,
    );
    await chmod(chrootScript, 0o755);
    const lines: string[] = [];
    const upper = await layer(async (root) => {
      const c = await ctx();
      const support = await debian.scriptSupport(c);
      const common = {
        config: {
          ...c.config,
          ImageId: "test",
          ImageVersion: "1",
          WithNetwork: false,
          WithTests: false,
          SourceDateEpoch: null,
        },
        root,
        workingDirectory: src,
        packageManager: support,
        workDir: await ensureDir(join(base, "script-work")),
        configJson: "{}",
        onOutput: (l: string) => lines.push(l),
      };
      await runScripts({ ...common, kind: "prepare", scripts: [prepare], phase: "final" });
      await runScripts({ ...common, kind: "postinst", scripts: [chrootScript] });
    });
    expect(lines).toContain(`prepare arg=final srcdir=/work/src pwd=/work/src`);
    expect(await readFile(join(upper, "dpkg-query.txt"), "utf8")).toBe("file install ok installed\n");
    expect(await readFile(join(upper, "etc/passwd"), "utf8")).toMatch(/^mkosiuser:[^:]*:1234:/m);
    expect(existsSync(join(upper, "home/mkosiuser"))).toBe(true);
    const fromChroot = (await readFile(join(upper, "from-chroot.txt"), "utf8")).split("\n");
    expect(fromChroot[0]).toMatch(/ELF/);
    expect(fromChroot[1]).toBe("from sources");
    expect(fromChroot[2]).toBe("/");
    expect(await readFile(join(upper, "chroot-script.txt"), "utf8")).toBe("final /work/src /\n");
    // mkosi-chroot leaves no /work directory behind in the image, and policy-rc.d is gone.
    expect(existsSync(join(upper, "work"))).toBe(false);
    expect(existsSync(join(upper, "usr/sbin/policy-rc.d"))).toBe(false);
  }, 300_000);

  it("downloads into a cold package cache several files at a time, then installs from it", async () => {
    // The first run on a machine: an empty package cache directory and no metadata yet.
    const cold = await ensureDir(join(base, "cold-packages"));
    const coldMeta = await ensureDir(join(base, "cold-metadata"));
    const lines: string[] = [];
    const coldCtx = async () => ({
      ...(await ctx()),
      packageCacheDir: cold,
      metadataDir: coldMeta,
      onOutput: (l: string) => lines.push(l),
    });
    await debian.syncMetadata(await coldCtx());
    await layer(async (root) => {
      await debian.install(await coldCtx(), root, ["libllvm15"]);
      expect(existsSync(join(root, "usr/lib/x86_64-linux-gnu/libLLVM-15.so.1"))).toBe(true);
    });
    // Fetched by the parallel apt-get download runs, into mkosi's layout; apt's own download run (which
    // checks every file's hash) then had nothing left to get.
    const archives = join(cold, "cache/apt/archives");
    const debs = (await readdir(archives)).filter((f) => f.endsWith(".deb"));
    expect(debs.some((f) => f.startsWith("libllvm15_"))).toBe(true);
    expect(debs.length).toBeGreaterThan(3);
    expect(lines.some((l) => /^Need to get 0 B\/[\d.,]+ [kM]B of archives/.test(l.trim()))).toBe(true);
    expect((await readdir(join(archives, "partial"))).filter((f) => f.startsWith("mkosi-"))).toEqual([]);
  }, 300_000);

  it("installs offline from the package cache (network off)", async () => {
    await layer(async (root) => {
      await debian.install(await ctx(), root, ["less"], { network: false });
      expect(existsSync(join(root, "usr/bin/less"))).toBe(true);
    });
  }, 300_000);

  it("cancels an install on abort: no processes or mounts left behind", async () => {
    const marker = `mkosi-abort-test-${process.pid}-${Date.now()}`;
    const ac = new AbortController();
    const started = Date.now();
    const upper = await layer(async (root) => {
      const c = await ctx({}, { env: { MKOSI_TEST_MARKER: marker }, signal: ac.signal });
      const p = debian.install(c, root, ["systemd", "dbus", "perl", "python3"]);
      setTimeout(() => ac.abort(), 1500);
      await expect(p).rejects.toThrow(/cancelled/);
    });
    expect(Date.now() - started).toBeLessThan(60_000);
    await new Promise((r) => setTimeout(r, 300));
    const leftovers: string[] = [];
    for (const pid of await readdir("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      const env = await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "");
      if (env.includes(marker)) leftovers.push(pid);
    }
    expect(leftovers).toEqual([]);
    expect(await mountsUnder(base)).toEqual([]);
    expect(existsSync(join(upper, "usr/sbin/policy-rc.d"))).toBe(false);
  }, 300_000);

  it("reports a broken mirror clearly", async () => {
    const c = await ctx({ Mirror: "http://127.0.0.1:9/debian" });
    c.metadataDir = await ensureDir(join(base, "broken-meta"));
    await expect(debian.syncMetadata(c)).rejects.toThrow(
      /Fetching repository metadata for debian bookworm failed \(repositories: http:\/\/127\.0\.0\.1:9\/debian bookworm/,
    );
  }, 120_000);
});
