// Small real packages and local repositories for the package manager tests: the same few packages built
// as rpms (rpmbuild, indexed by createrepo_c), pacman packages (bsdtar, indexed by repo-add) and debs
// (dpkg-deb, indexed by dpkg-scanpackages). The shell is busybox (static), so scriptlets run in images
// that have nothing else.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface TestFile {
  content?: string;
  /** Copy this host file. */
  from?: string;
  mode?: number;
  symlink?: string;
  dir?: boolean;
}

export interface TestPackage {
  name: string;
  version: string;
  /** "any" packages have no architecture (noarch, all). */
  arch?: "any" | "native";
  files: Record<string, TestFile>;
  requires?: string[];
  provides?: string[];
  /** Shell run after installation, in the image. */
  post?: string;
}

const OS_RELEASE = 'ID=mkosi-test\nNAME="mkosi test"\nVERSION_ID=1\nPRETTY_NAME="mkosi test 1"\n';

/** A package that is in no repository: for PackageDirectories=. */
export function extraPackage(version = "1.0"): TestPackage {
  return {
    name: "test-extra",
    version,
    arch: "any",
    files: { "usr/share/test-extra/version": { content: `${version}\n` } },
  };
}

/** The packages every test repository has. `version` is the test-app version (for update tests). */
export function testPackages(appVersion = "1.0"): TestPackage[] {
  const dirs = [
    "etc",
    "usr/bin",
    "usr/sbin",
    "usr/lib",
    "usr/lib64",
    "usr/share",
    "var/lib",
    "var/cache",
    "var/log",
    "var/tmp",
    "root",
    "home",
    "tmp",
    "run",
    "proc",
    "sys",
    "dev",
    "boot",
    "srv",
    "opt",
    "mnt",
    "media",
  ];
  const filesystem: TestPackage = {
    name: "filesystem",
    version: "3.18",
    arch: "any",
    files: {
      ...Object.fromEntries(dirs.map((d) => [d, { dir: true }])),
      bin: { symlink: "usr/bin" },
      sbin: { symlink: "usr/sbin" },
      lib: { symlink: "usr/lib" },
      lib64: { symlink: "usr/lib64" },
      "etc/passwd": { content: "root:x:0:0:root:/root:/bin/sh\n" },
      "etc/group": { content: "root:x:0:\n" },
      "usr/lib/os-release": { content: OS_RELEASE },
    },
  };
  return [
    filesystem,
    {
      name: "bash",
      version: "5.2",
      arch: "native",
      requires: ["filesystem"],
      provides: ["/bin/sh"],
      files: {
        "usr/bin/busybox": { from: "/bin/busybox", mode: 0o755 },
        "usr/bin/sh": { symlink: "busybox" },
        "usr/bin/bash": { symlink: "busybox" },
        "usr/bin/cat": { symlink: "busybox" },
        "usr/bin/grep": { symlink: "busybox" },
        "usr/bin/id": { symlink: "busybox" },
      },
    },
    {
      name: "basesystem",
      version: "11",
      arch: "any",
      requires: ["filesystem", "bash"],
      files: { "usr/share/basesystem/README": { content: "the base system\n" } },
    },
    {
      // Azure Linux's base system includes its release package.
      name: "azurelinux-release",
      version: "3.0",
      arch: "any",
      requires: ["filesystem"],
      files: { "etc/azurelinux-release": { content: "Azure Linux 3.0 (test)\n" } },
    },
    {
      name: "test-lib",
      version: "1.0",
      arch: "any",
      files: { "usr/lib/test-lib/greeting": { content: "hello from test-lib\n" } },
    },
    {
      name: "test-app",
      version: appVersion,
      arch: "any",
      requires: ["test-lib"],
      files: {
        "usr/bin/test-app": {
          content: `#!/bin/sh\necho "test-app ${appVersion}: $(cat /usr/lib/test-lib/greeting)"\n`,
          mode: 0o755,
        },
      },
    },
    {
      name: "test-service",
      version: "1.0",
      arch: "any",
      files: {
        "usr/lib/systemd/system/test-service.service": {
          content:
            "[Unit]\nDescription=Test service\n\n[Service]\nExecStart=/usr/bin/test-app\n\n[Install]\nWantedBy=multi-user.target\n",
        },
      },
    },
    {
      name: "test-tool",
      version: "1.0",
      arch: "any",
      files: { "usr/bin/test-tool": { content: "#!/bin/sh\necho test-tool\n", mode: 0o755 } },
    },
    {
      name: "test-user",
      version: "1.0",
      arch: "any",
      // The scriptlet needs a shell.
      requires: ["bash"],
      files: { "usr/share/test-user/README": { content: "creates testuser\n" } },
      post: [
        "grep -q '^testuser:' /etc/group || echo 'testuser:x:990:' >> /etc/group",
        "grep -q '^testuser:' /etc/passwd || echo 'testuser:x:990:990:Test user:/var/lib/testuser:/usr/sbin/nologin' >> /etc/passwd",
      ].join("\n"),
    },
  ];
}

async function stage(pkg: TestPackage, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [path, f] of Object.entries(pkg.files)) {
    const full = join(dir, path);
    await mkdir(dirname(full), { recursive: true });
    if (f.dir) await mkdir(full, { recursive: true });
    else if (f.symlink) await symlink(f.symlink, full);
    else if (f.from) await copyFile(f.from, full);
    else await writeFile(full, f.content ?? "");
    if (f.mode !== undefined) await chmod(full, f.mode);
  }
}

function nativeRpmArch(): string {
  return { x64: "x86_64", arm64: "aarch64" }[process.arch as "x64"] ?? process.arch;
}

/** Build `packages` as rpms into `out` (one rpmbuild per package). */
export async function buildRpms(packages: TestPackage[], out: string): Promise<string[]> {
  const work = await mkdtemp(join(tmpdir(), "mkosi-test-rpmbuild-"));
  const built: string[] = [];
  try {
    await mkdir(out, { recursive: true });
    for (const pkg of packages) {
      const src = join(work, `${pkg.name}-src`);
      await stage(pkg, src);
      const entries = Object.entries(pkg.files).map(([path, f]) => (f.dir ? `%dir /${path}` : `/${path}`));
      const spec = [
        "%global debug_package %{nil}",
        "%global __os_install_post %{nil}",
        "%global _build_id_links none",
        `Name: ${pkg.name}`,
        `Version: ${pkg.version}`,
        "Release: 1",
        `Summary: ${pkg.name} for mkosi tests`,
        "License: MIT",
        `BuildArch: ${pkg.arch === "native" ? nativeRpmArch() : "noarch"}`,
        "AutoReqProv: no",
        ...(pkg.requires ?? []).map((r) => `Requires: ${r}`),
        ...(pkg.provides ?? []).map((p) => `Provides: ${p}`),
        ...(pkg.post ? ["Requires(post): /bin/sh"] : []),
        "%description",
        `${pkg.name} for mkosi tests`,
        "%install",
        `cp -a ${src}/. %{buildroot}/`,
        "%files",
        ...entries,
        ...(pkg.post ? ["%post", pkg.post] : []),
        "",
      ].join("\n");
      const specFile = join(work, `${pkg.name}.spec`);
      await writeFile(specFile, spec);
      execFileSync(
        "rpmbuild",
        [
          "-bb",
          "--quiet",
          "--define",
          `_topdir ${join(work, "top")}`,
          "--define",
          "_binary_payload w19.zstdio",
          specFile,
        ],
        { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, HOME: work } },
      );
    }
    for (const arch of await readdir(join(work, "top/RPMS"))) {
      for (const f of await readdir(join(work, "top/RPMS", arch))) {
        await copyFile(join(work, "top/RPMS", arch, f), join(out, f));
        built.push(f);
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return built.sort();
}

/** An rpm repository (createrepo_c) of `packages` at `dir`. */
export async function rpmRepository(packages: TestPackage[], dir: string): Promise<void> {
  await buildRpms(packages, dir);
  execFileSync("createrepo_c", ["--quiet", "--update", dir]);
}

export const haveRpmTools = ["rpmbuild", "createrepo_c", "dnf", "rpm"].every((t) =>
  ["/usr/bin", "/usr/sbin"].some((d) => existsSync(join(d, t))),
);

function nativePacmanArch(): string {
  return { x64: "x86_64", arm64: "aarch64" }[process.arch as "x64"] ?? process.arch;
}

/** Build `packages` as pacman packages (.pkg.tar.zst with .PKGINFO and .INSTALL) into `out`. */
export async function buildPacmanPackages(packages: TestPackage[], out: string): Promise<string[]> {
  const work = await mkdtemp(join(tmpdir(), "mkosi-test-pkg-"));
  const built: string[] = [];
  try {
    await mkdir(out, { recursive: true });
    for (const pkg of packages) {
      const src = join(work, pkg.name);
      await stage(pkg, src);
      const arch = pkg.arch === "native" ? nativePacmanArch() : "any";
      const info = [
        `pkgname = ${pkg.name}`,
        `pkgbase = ${pkg.name}`,
        `pkgver = ${pkg.version}-1`,
        `pkgdesc = ${pkg.name} for mkosi tests`,
        "builddate = 1700000000",
        "packager = mkosi tests",
        "size = 4096",
        `arch = ${arch}`,
        "license = MIT",
        ...(pkg.provides ?? []).filter((p) => !p.startsWith("/")).map((p) => `provide = ${p}`),
        ...(pkg.requires ?? []).map((r) => `depend = ${r}`),
        "",
      ].join("\n");
      await writeFile(join(src, ".PKGINFO"), info);
      const members = [".PKGINFO"];
      if (pkg.post) {
        await writeFile(join(src, ".INSTALL"), `post_install() {\n${pkg.post}\n}\n`);
        members.push(".INSTALL");
      }
      const name = `${pkg.name}-${pkg.version}-1-${arch}.pkg.tar.zst`;
      // Members other than the metadata, in a stable order.
      const files = Object.keys(pkg.files).sort();
      execFileSync("bsdtar", [
        "--zstd",
        "-cf",
        join(out, name),
        "-C",
        src,
        "--numeric-owner",
        "--uid",
        "0",
        "--gid",
        "0",
        ...members,
        ...files,
      ]);
      built.push(name);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return built.sort();
}

/** A pacman repository named `name` (repo-add) of `packages` at `dir`. */
export async function pacmanRepository(packages: TestPackage[], dir: string, name = "core"): Promise<void> {
  const files = await buildPacmanPackages(packages, dir);
  execFileSync("repo-add", ["--quiet", join(dir, `${name}.db.tar.gz`), ...files.map((f) => join(dir, f))]);
}

export const havePacmanTools = ["pacman", "repo-add", "bsdtar"].every((t) =>
  ["/usr/bin", "/usr/sbin"].some((d) => existsSync(join(d, t))),
);
function nativeDebArch(): string {
  return { x64: "amd64", arm64: "arm64" }[process.arch as "x64"] ?? process.arch;
}

/** The essential set of the test debs: apt's bootstrap installs packages marked Essential. */
const ESSENTIAL = new Set(["filesystem", "bash"]);

/** Build `packages` as debs (dpkg-deb) into `out`. */
export async function buildDebs(packages: TestPackage[], out: string): Promise<string[]> {
  const work = await mkdtemp(join(tmpdir(), "mkosi-test-deb-"));
  const built: string[] = [];
  try {
    await mkdir(out, { recursive: true });
    for (const pkg of packages) {
      const src = join(work, pkg.name);
      await stage(pkg, src);
      await mkdir(join(src, "DEBIAN"), { recursive: true });
      const arch = pkg.arch === "native" ? nativeDebArch() : "all";
      const control = [
        `Package: ${pkg.name}`,
        `Version: ${pkg.version}-1`,
        `Architecture: ${arch}`,
        "Maintainer: mkosi tests <tests@example.invalid>",
        ...(ESSENTIAL.has(pkg.name) ? ["Essential: yes", "Priority: required"] : ["Priority: optional"]),
        ...(pkg.requires?.length ? [`Depends: ${pkg.requires.join(", ")}`] : []),
        ...(pkg.provides?.filter((p) => !p.startsWith("/")).length
          ? [`Provides: ${pkg.provides.filter((p) => !p.startsWith("/")).join(", ")}`]
          : []),
        `Description: ${pkg.name} for mkosi tests`,
        "",
      ].join("\n");
      await writeFile(join(src, "DEBIAN/control"), control);
      if (pkg.post) {
        await writeFile(join(src, "DEBIAN/postinst"), `#!/bin/sh\nset -e\n${pkg.post}\n`);
        await chmod(join(src, "DEBIAN/postinst"), 0o755);
      }
      const name = `${pkg.name}_${pkg.version}-1_${arch}.deb`;
      execFileSync("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", src, join(out, name)], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      built.push(name);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return built.sort();
}

/** An apt repository for `suites` (dists/<suite>/main/binary-<arch>/Packages and an unsigned Release,
 * all suites sharing the pool) of `packages` at `dir`, as LocalMirror= and Mirror= expect one. Calling it
 * again with other packages adds them to the pool and indexes it again. */
export async function debRepository(packages: TestPackage[], dir: string, suites: string[]): Promise<void> {
  await buildDebs(packages, join(dir, "pool"));
  for (const suite of suites) await indexDebSuite(dir, suite);
}

async function indexDebSuite(dir: string, suite: string): Promise<void> {
  const arch = nativeDebArch();
  const index = join(dir, "dists", suite, "main", `binary-${arch}`);
  await mkdir(index, { recursive: true });
  const packagesText = execFileSync("dpkg-scanpackages", ["--multiversion", "pool", "/dev/null"], {
    cwd: dir,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  await writeFile(join(index, "Packages"), packagesText);
  const { createHash } = await import("node:crypto");
  const sum = (algorithm: string) => createHash(algorithm).update(packagesText).digest("hex");
  const rel = `main/binary-${arch}/Packages`;
  const size = Buffer.byteLength(packagesText);
  await writeFile(
    join(dir, "dists", suite, "Release"),
    [
      "Origin: mkosi-tests",
      `Suite: ${suite}`,
      `Codename: ${suite}`,
      `Architectures: ${arch}`,
      "Components: main",
      "Date: Thu, 01 Jan 1970 00:00:00 UTC",
      "MD5Sum:",
      ` ${sum("md5")} ${size} ${rel}`,
      "SHA256:",
      ` ${sum("sha256")} ${size} ${rel}`,
      "",
    ].join("\n"),
  );
}

/** A throwaway signing key (ed25519) in a GnuPG home below `dir`: its home and the public key (armored). */
export async function signingKey(dir: string): Promise<{ home: string; publicKey: string }> {
  const home = join(dir, "gnupg");
  await mkdir(home, { recursive: true, mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: home };
  execFileSync(
    "gpg",
    [
      "--batch",
      "--pinentry-mode",
      "loopback",
      "--passphrase",
      "",
      "--quick-gen-key",
      "mkosi test <test@example.invalid>",
      "ed25519",
      "sign",
      "never",
    ],
    { env, stdio: ["ignore", "ignore", "ignore"] },
  );
  const publicKey = execFileSync("gpg", ["--armor", "--export"], { env, encoding: "utf8" });
  return { home, publicKey };
}

/** Sign the rpms in `dir` with the key of `signingKey()`. */
export async function signRpms(dir: string, home: string): Promise<void> {
  const rpms = (await readdir(dir)).filter((f) => f.endsWith(".rpm")).map((f) => join(dir, f));
  execFileSync(
    "rpmsign",
    [
      "--addsign",
      "--define",
      "__gpg /usr/bin/gpg",
      "--define",
      "_gpg_name mkosi test",
      "--define",
      `_gpg_path ${home}`,
      "--define",
      "_gpg_sign_cmd_extra_args --batch --pinentry-mode loopback --passphrase ''",
      ...rpms,
    ],
    { stdio: ["ignore", "ignore", "ignore"], env: { ...process.env, GNUPGHOME: home } },
  );
}
