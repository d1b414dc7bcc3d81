// apt/dpkg driver shared by Debian, Ubuntu and Kali. No debootstrap: the approach is mmdebstrap's.
//
//  * Configuration is generated into a private tree (ctx.workDir/etc/apt) and bound over /etc/apt in a
//    bubblewrap sandbox that uses the host's apt and dpkg; APT_CONFIG points at our apt.conf so nothing
//    of the host's apt configuration is read. Inside the sandbox the paths are fixed:
//      /etc/apt                 generated configuration (sources in deb822 form, preferences, apt.conf)
//      /var/lib/apt/lists       repository metadata (ctx.metadataDir/lists)
//      /var/cache/apt           apt's binary caches (private copy per operation)
//      /var/cache/apt/archives  the shared download cache (ctx.packageCacheDir)
//      /repository              the local repository (PackageDirectories=), if any
//      /buildroot               the image; apt's Dir::State and dpkg's --root point into it
//  * syncMetadata: `apt-get update` into ctx.metadataDir (lists + srcpkgcache.bin), reusable offline.
//  * bootstrap: one apt-get run resolves and downloads the essential set (all .debs at once, in
//    parallel, into the shared cache) and hands us the list of .deb files through a
//    DPkg::Pre-Install-Pkgs hook while Debug::pkgDpkgPm keeps it from running dpkg; the .debs are then
//    extracted with dpkg-deb|tar in parallel (so maintainer scripts find a shell and libc), and a single
//    `dpkg --install` registers and configures them all (--force-unsafe-io, no dpkg log).
//  * install/remove: apt-get with DPkg::Options --root=/buildroot (maintainer scripts run chrooted into
//    the image by dpkg), API filesystems mounted inside the image, and policy-rc.d forbidding services.

import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import {
  chmod,
  copyFile,
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  rm,
  symlink,
  unlink,
  writeFile,
} from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename, join } from "node:path";
import {
  type BindMount,
  BUILDROOT,
  type OutputCallback,
  runCommand,
  runSandboxed,
  type SandboxOptions,
} from "../../sandbox/run.js";
import { withPackageCacheLock } from "../cachelock.js";
import {
  type AptDistribution,
  type BootstrapOptions,
  type DebRepository,
  DistributionError,
  type DistroConfig,
  type InstalledPackage,
  type InstallOptions,
  type LocalRepository,
  type PackageManager,
  type PackageManagerContext,
  type ScriptPackageManagerSupport,
} from "../types.js";
import { fileMirrorBinds } from "./common.js";
import { PACKAGE_MANAGER_TOOLS } from "./tools.js";

export function debianArchitecture(d: AptDistribution, arch: string): string {
  const a = d.architectures[arch];
  if (!a) throw new DistributionError(`Architecture ${arch} is not supported by ${d.prettyName}`);
  return a;
}

/** Extra top-level lib directories of the merged-/usr layout per Debian architecture (besides bin,
 * sbin, lib), as the archive's packages expect them. */
const MERGED_USR_LIBDIRS: Record<string, string[]> = {
  amd64: ["lib32", "lib64", "libx32"],
  i386: ["lib64", "libx32"],
  mipsel: ["lib32", "lib64"],
  mips64el: ["lib32", "lib64", "libo32"],
  loong64: ["lib32", "lib64"],
  powerpc: ["lib64"],
  ppc64: ["lib32", "lib64"],
  ppc64el: ["lib64"],
  s390x: ["lib32"],
};

/** Doc paths dropped with WithDocs=no (copyright files are kept). */
export const DOC_PATH_EXCLUDES = [
  "/usr/share/doc/*",
  "/usr/share/man/*",
  "/usr/share/info/*",
  "/usr/share/groff/*",
  "/usr/share/gtk-doc/*",
  "/usr/share/lintian/*",
  "/usr/share/linda/*",
];
export const DOC_PATH_INCLUDES = ["/usr/share/doc/*/copyright"];

// ---------------------------------------------------------------------------------------------
// Rendering

/** Render repositories as a deb822 .sources file. */
export function renderDeb822(repos: readonly DebRepository[]): string {
  return repos
    .map((r) => {
      const lines = [
        `Types: ${r.types.join(" ")}`,
        `URIs: ${r.uris.join(" ")}`,
        `Suites: ${r.suites.join(" ")}`,
      ];
      if (r.components.length) lines.push(`Components: ${r.components.join(" ")}`);
      if (r.trusted) lines.push("Trusted: yes");
      else if (r.signedBy.length) lines.push(`Signed-By: ${r.signedBy.join(" ")}`);
      return `${lines.join("\n")}\n`;
    })
    .join("\n");
}

export interface AptConfOptions {
  arch: string;
  withDocs: boolean;
  withRecommends: boolean;
  keyCheck: boolean;
  proxy?: string | null;
}

/** dpkg options shared by apt-driven and direct dpkg runs. */
export function dpkgOptions(withDocs: boolean): string[] {
  const o = ["--force-unsafe-io", "--force-confdef", "--force-confold", "--log=/dev/null", "--no-debsig"];
  if (!withDocs) {
    for (const p of DOC_PATH_EXCLUDES) o.push(`--path-exclude=${p}`);
    for (const p of DOC_PATH_INCLUDES) o.push(`--path-include=${p}`);
  }
  return o;
}

/** The apt.conf used for every apt run (paths are the fixed sandbox paths documented above). */
export function renderAptConf(o: AptConfOptions): string {
  const q = (s: string) => `"${s.replace(/["\\]/g, "\\$&")}"`;
  const lines = [
    `Dir::Etc ${q("/etc/apt")};`,
    `Dir::Etc::Main ${q("apt.conf.d/00-none")};`,
    `Dir::Etc::Parts ${q("apt.conf.d")};`,
    `Dir::Etc::SourceList ${q("sources.list")};`,
    `Dir::Etc::SourceParts ${q("sources.list.d")};`,
    `Dir::Etc::Preferences ${q("preferences")};`,
    `Dir::Etc::PreferencesParts ${q("preferences.d")};`,
    `Dir::Etc::TrustedParts ${q("trusted.gpg.d")};`,
    `Dir::State ${q(`${BUILDROOT}/var/lib/apt`)};`,
    `Dir::State::Lists ${q("/var/lib/apt/lists/")};`,
    `Dir::State::Status ${q(`${BUILDROOT}/var/lib/dpkg/status`)};`,
    `Dir::Cache ${q("/var/cache/apt")};`,
    `Dir::Cache::Archives ${q("/var/cache/apt/archives/")};`,
    `Dir::Log ${q("/var/log/apt")};`,
    `Dir::Bin::dpkg ${q("/usr/bin/dpkg")};`,
    `APT::Architecture ${q(o.arch)};`,
    `APT::Architectures { ${q(o.arch)}; };`,
    `APT::Install-Recommends ${q(o.withRecommends ? "true" : "false")};`,
    `APT::Install-Suggests "false";`,
    `APT::Get::Assume-Yes "true";`,
    `APT::Get::AutomaticRemove "true";`,
    `APT::Get::Allow-Change-Held-Packages "true";`,
    `APT::Get::Allow-Remove-Essential "true";`,
    `APT::Immediate-Configure "false";`,
    `APT::Sandbox::User "root";`,
    `APT::Keep-Downloaded-Packages "true";`,
    `APT::Cache-Start "67108864";`,
    `Acquire::Languages "none";`,
    `Acquire::AllowReleaseInfoChange "true";`,
    `Acquire::Check-Valid-Until "false";`,
    `Acquire::Retries "3";`,
    `Acquire::Queue-Mode "host";`,
    `Debug::NoLocking "true";`,
    `DPkg::Use-Pty "false";`,
    `DPkg::Install::Recursive::Minimum "1000";`,
    `pkgCacheGen::ForceEssential ",";`,
    `Binary::apt::APT::Keep-Downloaded-Packages "true";`,
    `DPkg::Options { ${[`--root=${BUILDROOT}`, "--force-architecture", ...dpkgOptions(o.withDocs)].map((x) => `${q(x)};`).join(" ")} };`,
  ];
  if (!o.keyCheck) {
    lines.push(
      `Acquire::AllowInsecureRepositories "true";`,
      `Acquire::AllowDowngradeToInsecureRepositories "true";`,
      `APT::Get::AllowUnauthenticated "true";`,
    );
  }
  if (o.proxy) lines.push(`Acquire::http::Proxy ${q(o.proxy)};`, `Acquire::https::Proxy ${q(o.proxy)};`);
  return `${lines.join("\n")}\n`;
}

export const LOCAL_REPO_ORIGIN = "mkosi-local";
export const LOCAL_REPO_PRIORITY = 1100;

export function localRepository(): DebRepository {
  return {
    id: "mkosi-local",
    types: ["deb"],
    uris: ["file:///repository"],
    suites: ["./"],
    components: [],
    signedBy: [],
    trusted: true,
    inImage: false,
  };
}

/** Check that every keyring a checked repository needs exists on the host (or in the tools tree at
 * `root`, where apt runs). */
export function checkKeyrings(repos: readonly DebRepository[], hint: string, root = "/"): void {
  for (const r of repos) {
    if (r.trusted) continue;
    for (const k of r.signedBy) {
      if (!existsSync(join(root, k))) {
        throw new DistributionError(
          `Keyring ${k} for repository ${r.uris.join(" ")} ${r.suites.join(" ")} is missing; install ${hint} ` +
            "(or set RepositoryKeyCheck=no)",
        );
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The apt session: configuration written once per operation, sandbox options derived from it.

interface Session {
  etcApt: string;
  dpkgCfg: string;
  aptCache: string;
  lists: string;
  listsWritable: boolean;
  log: string;
  arch: string;
}

async function writeConfig(
  ctx: PackageManagerContext,
  d: AptDistribution,
  withLocal: boolean,
): Promise<Session> {
  const c = ctx.config;
  const arch = debianArchitecture(d, c.Architecture);
  const etcApt = join(ctx.workDir, "etc", "apt");
  const dpkgCfg = join(ctx.workDir, "etc", "dpkg.cfg.d");
  const log = join(ctx.workDir, "log");
  for (const d of ["apt.conf.d", "sources.list.d", "preferences.d", "trusted.gpg.d", "auth.conf.d"]) {
    await mkdir(join(etcApt, d), { recursive: true });
  }
  await mkdir(dpkgCfg, { recursive: true });
  await mkdir(log, { recursive: true });
  // SandboxTrees= may carry apt configuration; their repositories replace the generated ones.
  let userSources = false;
  await writeFile(join(etcApt, "sources.list"), "");
  for (const tree of ctx.sandboxTrees ?? []) {
    // The tree's Source appears at Target (default /) in the sandbox; find what lands below /etc/apt.
    const at = (sandboxPath: string): string | undefined => {
      const target = tree.Target ? `/${tree.Target.replace(/^\/+|\/+$/g, "")}` : "/";
      if (target === "/") return join(tree.Source, sandboxPath);
      if (sandboxPath === target || sandboxPath.startsWith(`${target}/`)) {
        return join(tree.Source, sandboxPath.slice(target.length));
      }
      return undefined;
    };
    for (const d of ["apt.conf.d", "sources.list.d", "preferences.d", "trusted.gpg.d", "auth.conf.d"]) {
      const src = at(`/etc/apt/${d}`);
      if (!src || !existsSync(src)) continue;
      // Dereferenced: a sandbox tree may link to the host's own apt sources (-L after -a wins).
      await runCommand(["cp", "-a", "-L", "--no-target-directory", `${src}/.`, join(etcApt, d)]);
      if (d === "sources.list.d") {
        const names = await readdir(src);
        if (names.some((n) => n.endsWith(".sources") || n.endsWith(".list"))) userSources = true;
      }
    }
    const listPath = at("/etc/apt/sources.list");
    const list = listPath ? await readFile(listPath, "utf8").catch(() => "") : "";
    if (/^\s*deb\s/m.test(list)) {
      await writeFile(join(etcApt, "sources.list"), list);
      userSources = true;
    }
  }
  if (!userSources) {
    const repos = d.repositories(c);
    if (c.RepositoryKeyCheck) checkKeyrings(repos, d.keyringPackage, ctx.tools?.root);
    await writeFile(join(etcApt, "sources.list.d", "mkosi.sources"), renderDeb822(repos));
  }
  if (withLocal) {
    await writeFile(join(etcApt, "sources.list.d", "mkosi-local.sources"), renderDeb822([localRepository()]));
    await writeFile(
      join(etcApt, "preferences.d", "mkosi-local.pref"),
      `Package: *\nPin: release o=${LOCAL_REPO_ORIGIN}\nPin-Priority: ${LOCAL_REPO_PRIORITY}\n`,
    );
  }
  await writeFile(
    join(etcApt, "apt.conf"),
    renderAptConf({
      arch,
      withDocs: c.WithDocs,
      withRecommends: c.WithRecommends,
      keyCheck: c.RepositoryKeyCheck,
      proxy: c.ProxyUrl,
    }),
  );
  const aptCache = join(ctx.workDir, "apt-cache");
  await mkdir(aptCache, { recursive: true });
  return {
    etcApt,
    dpkgCfg,
    aptCache,
    lists: join(ctx.metadataDir, "lists"),
    listsWritable: false,
    log,
    arch,
  };
}

function aptEnv(ctx: PackageManagerContext, network: boolean): Record<string, string> {
  const env: Record<string, string> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: "/root",
    LC_ALL: "C.UTF-8",
    APT_CONFIG: "/etc/apt/apt.conf",
    DEBIAN_FRONTEND: "noninteractive",
    DEBCONF_NONINTERACTIVE_SEEN: "true",
    SYSTEMD_IN_CHROOT: "1",
    SYSTEMD_HWDB_UPDATE_BYPASS: "1",
    // Bootable images get their kernels and initrds from mkosi itself, so package hooks must not build
    // them; otherwise kernel-install may run, into /boot.
    ...(ctx.config.Bootable !== "disabled"
      ? { INITRD: "No", KERNEL_INSTALL_BYPASS: "1" }
      : { BOOT_ROOT: "/boot", BOOT_MNT: "/boot", hostonly_l: "no" }),
    ...(ctx.env ?? {}),
  };
  if (!network) env.SYSTEMD_OFFLINE = "1";
  if (ctx.config.ProxyUrl) {
    for (const k of ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"]) env[k] = ctx.config.ProxyUrl;
  }
  return env;
}

function aptBinds(ctx: PackageManagerContext, s: Session): BindMount[] {
  const binds: BindMount[] = [
    { src: s.etcApt, dst: "/etc/apt", readOnly: true },
    { src: s.dpkgCfg, dst: "/etc/dpkg/dpkg.cfg.d", readOnly: true },
    { src: s.aptCache, dst: "/var/cache/apt" },
    { src: ctx.packageCacheDir, dst: "/var/cache/apt/archives" },
    { src: s.lists, dst: "/var/lib/apt/lists", readOnly: !s.listsWritable },
    { src: s.log, dst: "/var/log/apt" },
  ];
  if (ctx.localRepository) binds.push({ src: ctx.localRepository, dst: "/repository", readOnly: true });
  // file:// mirrors (LocalMirror=, Mirror=) are read where they are.
  binds.push(...fileMirrorBinds(ctx));
  return binds;
}

const HOST_DEBIAN_ARCH: Record<string, string> = {
  x64: "amd64",
  arm64: "arm64",
  ia32: "i386",
  ppc64: "ppc64el",
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loong64",
};
const EATMYDATA_IN_SANDBOX = "/tmp/.mkosi-eatmydata.so";

/** The libeatmydata of the host (or of the tools tree at `root`, whose dpkg runs), if installed and usable
 * for an image of `arch` (same architecture). It is
 * preloaded into dpkg and the maintainer scripts it runs chrooted in the image (the library is bound at
 * the same /tmp path outside and inside the image, on tmpfs, so nothing lands in the image): dpkg's
 * many fsync()s of its database are the largest avoidable cost of a bootstrap. MKOSI_EATMYDATA=0
 * disables it. */
function eatmydata(arch: string, root = "/"): string | undefined {
  if (process.env.MKOSI_EATMYDATA === "0") return undefined;
  if (HOST_DEBIAN_ARCH[process.arch] !== arch) return undefined;
  for (const dir of [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/i386-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
  ]) {
    const p = join(root, dir, "libeatmydata.so.1");
    if (existsSync(p)) return p;
  }
  return undefined;
}

function sandboxFor(
  ctx: PackageManagerContext,
  s: Session,
  root: string | undefined,
  network: boolean,
  extra: BindMount[] = [],
): SandboxOptions {
  const env = aptEnv(ctx, network);
  const binds = [...aptBinds(ctx, s), ...extra];
  const lib = root !== undefined ? eatmydata(s.arch, ctx.tools?.root) : undefined;
  if (lib) {
    binds.push({ src: lib, dst: EATMYDATA_IN_SANDBOX, readOnly: true });
    binds.push({ src: lib, dst: `${BUILDROOT}${EATMYDATA_IN_SANDBOX}`, readOnly: true });
  }
  return {
    mode: "tools",
    tools: ctx.tools,
    root,
    apivfs: root !== undefined,
    network,
    env,
    binds,
    // apt chmods lists/auxfiles even when only reading; give it a private writable one.
    extraArgs: [
      ...(!s.listsWritable && existsSync(join(s.lists, "auxfiles"))
        ? ["--tmpfs", "/var/lib/apt/lists/auxfiles"]
        : []),
      // Set inside the sandbox only: bwrap itself runs where the library path does not exist.
      ...(lib ? ["--setenv", "LD_PRELOAD", EATMYDATA_IN_SANDBOX] : []),
    ],
    signal: ctx.signal,
    onOutput: ctx.onOutput,
    debugShell: root !== undefined && ctx.debugShell ? { terminal: ctx.debugShell } : undefined,
  };
}

/** Prepare the srcpkgcache copy so apt does not rebuild it from the lists every time. */
async function seedAptCache(ctx: PackageManagerContext, s: Session): Promise<void> {
  await mkdir(join(ctx.packageCacheDir, "partial"), { recursive: true });
  for (const f of ["srcpkgcache.bin"]) {
    const src = join(ctx.metadataDir, "cache", f);
    if (existsSync(src)) await copyFile(src, join(s.aptCache, f)).catch(() => undefined);
  }
}

/** With a local repository, the lists need a private writable copy (hardlinks; apt replaces files by
 * rename, so the shared metadata is never modified) plus an update of just the local source. */
async function withLocalLists(ctx: PackageManagerContext, s: Session): Promise<void> {
  if (!ctx.localRepository) return;
  const lists = join(ctx.workDir, "lists");
  await rm(lists, { recursive: true, force: true });
  if (existsSync(s.lists)) await runCommand(["cp", "-al", s.lists, lists], { signal: ctx.signal });
  else await mkdir(lists, { recursive: true });
  await mkdir(join(lists, "partial"), { recursive: true });
  s.lists = lists;
  s.listsWritable = true;
  const only = join(ctx.workDir, "local-sources");
  await mkdir(only, { recursive: true });
  await writeFile(join(only, "mkosi-local.sources"), renderDeb822([localRepository()]));
  await runSandboxed(
    [
      "apt-get",
      "-q",
      "-o",
      "Dir::Etc::SourceList=/dev/null",
      "-o",
      "Dir::Etc::SourceParts=/mkosi-local-sources",
      "-o",
      "APT::Get::List-Cleanup=false",
      "-o",
      `Dir::State::Status=/dev/null`,
      "-o",
      "Dir::State=/var/lib/apt",
      "update",
    ],
    sandboxFor(ctx, s, undefined, false, [{ src: only, dst: "/mkosi-local-sources", readOnly: true }]),
  );
}

// ---------------------------------------------------------------------------------------------
// Operations

export async function aptSyncMetadata(ctx: PackageManagerContext, d: AptDistribution): Promise<void> {
  const s = await writeConfig(ctx, d, false);
  await mkdir(join(ctx.metadataDir, "lists", "partial"), { recursive: true });
  await mkdir(join(ctx.metadataDir, "lists", "auxfiles"), { recursive: true });
  await mkdir(join(ctx.metadataDir, "cache"), { recursive: true });
  s.listsWritable = true;
  s.aptCache = join(ctx.metadataDir, "cache");
  try {
    await runSandboxed(
      [
        "apt-get",
        "-q",
        "-o",
        "Dir::State=/var/lib/apt",
        "-o",
        "Dir::State::Status=/dev/null",
        "-o",
        "APT::Update::Error-Mode=any",
        "update",
      ],
      sandboxFor(ctx, s, undefined, true),
    );
  } catch (e) {
    const repos = d.repositories(ctx.config);
    throw new DistributionError(
      `Fetching repository metadata for ${ctx.config.Distribution} ${ctx.config.Release} failed ` +
        `(repositories: ${repos.map((r) => `${r.uris.join(" ")} ${r.suites.join(" ")}`).join(", ")}): ${(e as Error).message}`,
    );
  }
  // Make the source cache (independent of any image's dpkg status) for later runs to reuse.
  await runSandboxed(
    ["apt-cache", "-o", "Dir::State=/var/lib/apt", "-o", "Dir::State::Status=/dev/null", "gencaches"],
    sandboxFor(ctx, s, undefined, false),
  ).catch(() => undefined);
  await rm(join(ctx.metadataDir, "cache", "pkgcache.bin"), { force: true });
  await rm(join(ctx.metadataDir, "cache", "archives"), { recursive: true, force: true });
  // The binary source cache records when it was generated: keep the metadata (and so the digest
  // downstream keys depend on) a function of the repositories' content only.
  await rm(join(ctx.metadataDir, "cache", "srcpkgcache.bin"), { force: true });
}

async function ensureDpkgDb(root: string): Promise<void> {
  const db = join(root, "var/lib/dpkg");
  for (const d of ["info", "updates", "triggers", "alternatives"])
    await mkdir(join(db, d), { recursive: true });
  for (const f of ["status", "available"]) {
    if (!existsSync(join(db, f))) await writeFile(join(db, f), "");
  }
  await mkdir(join(root, "var/lib/apt"), { recursive: true });
}

/** Forbid service starts from maintainer scripts for the duration of `fn`. */
async function withPolicyRcD<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const p = join(root, "usr/sbin/policy-rc.d");
  let created = false;
  if (!existsSync(p)) {
    await mkdir(join(root, "usr/sbin"), { recursive: true });
    await writeFile(p, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
    created = true;
  }
  try {
    return await fn();
  } finally {
    if (created) await unlink(p).catch(() => undefined);
  }
}

async function makeMergedUsr(root: string, arch: string): Promise<void> {
  for (const d of ["bin", "sbin", "lib", ...(MERGED_USR_LIBDIRS[arch] ?? [])]) {
    await mkdir(join(root, "usr", d), { recursive: true });
    const link = join(root, d);
    const st = await lstat(link).catch(() => undefined);
    if (!st) await symlink(`usr/${d}`, link);
  }
  for (const d of ["etc", "var/lib", "var/cache", "var/log", "tmp", "proc", "sys", "dev", "run"]) {
    await mkdir(join(root, d), { recursive: true });
  }
  await chmod(join(root, "tmp"), 0o1777);
}

async function parallel<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

export async function aptBootstrap(
  ctx: PackageManagerContext,
  d: AptDistribution,
  root: string,
  options: BootstrapOptions = {},
): Promise<void> {
  const network = options.network ?? true;
  const s = await writeConfig(ctx, d, ctx.localRepository !== undefined);
  await seedAptCache(ctx, s);
  await withLocalLists(ctx, s);
  await makeMergedUsr(root, s.arch);
  await ensureDpkgDb(root);

  // 1. Resolve and download the base set in one apt run; collect the .deb paths via a hook.
  const hookDir = join(ctx.workDir, "hook");
  await mkdir(hookDir, { recursive: true });
  const selection = [
    "?essential",
    ...(options.required ? ["?priority(required)"] : []),
    ...(options.extraPackages ?? []),
  ];
  await runSandboxed(
    [
      "apt-get",
      "-q",
      "-o",
      "Debug::pkgDpkgPm=1",
      "-o",
      "DPkg::Pre-Install-Pkgs::=cat >/mkosi-hook/debs",
      "install",
      "--",
      ...selection,
    ],
    sandboxFor(ctx, s, root, network, [{ src: hookDir, dst: "/mkosi-hook" }]),
  );
  const debs = (await readFile(join(hookDir, "debs"), "utf8").catch(() => ""))
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.endsWith(".deb"));
  if (debs.length === 0) throw new DistributionError("apt selected no packages to bootstrap");
  const hostPath = (p: string) => {
    if (p.startsWith("/var/cache/apt/archives/"))
      return join(ctx.packageCacheDir, p.slice("/var/cache/apt/archives/".length));
    if (p.startsWith("/repository/") && ctx.localRepository)
      return join(ctx.localRepository, p.slice("/repository/".length));
    // A file:// mirror's packages are used where they are (bound at the same path).
    if (fileMirrorBinds(ctx).some((b) => p.startsWith(`${b.dst}/`))) return p;
    throw new DistributionError(`unexpected package path from apt: ${p}`);
  };

  // 2. Extract everything in parallel so maintainer scripts have a working userland.
  await parallel(debs, availableParallelism(), async (deb) => {
    await runCommand(
      [
        "bash",
        "-c",
        'set -o pipefail; dpkg-deb --fsys-tarfile "$1" | tar -x --numeric-owner --keep-directory-symlink -f - -C "$2"',
        "bash",
        hostPath(deb),
        root,
      ],
      { signal: ctx.signal, onOutput: ctx.onOutput },
    );
  });
  if (!ctx.config.WithDocs) {
    // dpkg --install below reinstalls everything with path excludes; drop what extraction put there.
    for (const d of [
      "usr/share/doc",
      "usr/share/man",
      "usr/share/info",
      "usr/share/groff",
      "usr/share/gtk-doc",
      "usr/share/lintian",
    ]) {
      await rm(join(root, d), { recursive: true, force: true });
    }
  }

  // 3. Register and configure the whole set with one dpkg run.
  await withPolicyRcD(root, () =>
    runSandboxed(
      [
        "dpkg",
        `--root=${BUILDROOT}`,
        "--force-depends",
        "--force-architecture",
        ...dpkgOptions(ctx.config.WithDocs),
        "--install",
        ...debs,
      ],
      { ...sandboxFor(ctx, s, root, false), onOutput: withoutPreDependsNoise(ctx.onOutput) },
    ),
  );
  await fixupAfterInstall(root);
  const codename = d.osReleaseCodename?.(ctx.config.Release);
  if (codename) await fixupOsReleaseCodename(ctx, s, root, codename);
}

/** base-files in sid carries the next release's codename; make os-release say sid, diverting the file
 * so that base-files upgrades inside the image keep the change. */
async function fixupOsReleaseCodename(
  ctx: PackageManagerContext,
  s: Session,
  root: string,
  codename: string,
): Promise<void> {
  const file = join(root, "usr/lib/os-release");
  const text = await readFile(file, "utf8").catch(() => undefined);
  if (text === undefined || new RegExp(`^VERSION_CODENAME=${codename}$`, "m").test(text)) return;
  await runSandboxed(
    [
      "dpkg-divert",
      `--root=${BUILDROOT}`,
      "--quiet",
      "--local",
      "--add",
      "--no-rename",
      "--divert",
      "/usr/lib/os-release.dpkg",
      "/usr/lib/os-release",
    ],
    sandboxFor(ctx, s, root, false),
  );
  await copyFile(file, `${file}.dpkg`);
  const fixed = /^VERSION_CODENAME=/m.test(text)
    ? text.replace(/^VERSION_CODENAME=.*$/m, `VERSION_CODENAME=${codename}`)
    : `${text.replace(/\n?$/, "\n")}VERSION_CODENAME=${codename}\n`;
  await unlink(file);
  await writeFile(file, fixed, { mode: 0o644 });
}

/** Installing the essential set in one dpkg run with --force-depends makes dpkg report every
 * pre-dependency that is unpacked but not configured yet; expected, so not passed on. */
function withoutPreDependsNoise(cb: OutputCallback | undefined): OutputCallback | undefined {
  if (!cb) return cb;
  return (line, stream) => {
    if (
      line === "" ||
      /^dpkg: (warning: ignoring pre-dependency problem!|regarding .* pre-dependency problem:)$/.test(line) ||
      /^ \S+ pre-depends on /.test(line) ||
      /^ {2}\S+ (is|provides \S+ but is) (not installed|(unpacked|to be installed)[^.]*)\.?$/.test(line)
    )
      return;
    cb(line, stream);
  };
}

async function fixupAfterInstall(root: string): Promise<void> {
  // dpkg writes these backups; they are not part of a reproducible tree.
  for (const f of [
    "var/lib/dpkg/status-old",
    "var/lib/dpkg/available-old",
    "var/cache/debconf/config.dat-old",
    "var/cache/debconf/templates.dat-old",
  ]) {
    await rm(join(root, f), { force: true });
  }
}

export async function aptInstall(
  ctx: PackageManagerContext,
  d: AptDistribution,
  root: string,
  packages: string[],
  options: InstallOptions = {},
  operation: "install" | "reinstall" | "upgrade" = "install",
): Promise<void> {
  if (packages.length === 0 && operation !== "upgrade") return;
  const network = options.network ?? true;
  const s = await writeConfig(ctx, d, ctx.localRepository !== undefined);
  await seedAptCache(ctx, s);
  await withLocalLists(ctx, s);
  await ensureDpkgDb(root);
  // "--" ends apt-get's options: a package name that starts with "-" is never read as one.
  const args =
    operation === "reinstall"
      ? ["install", "--reinstall", "--", ...packages]
      : [operation, "--", ...packages];
  await withPolicyRcD(root, () =>
    runSandboxed(["apt-get", "-q", ...args], sandboxFor(ctx, s, root, network)),
  );
  await fixupAfterInstall(root);
}

export async function aptRemove(
  ctx: PackageManagerContext,
  d: AptDistribution,
  root: string,
  packages: string[],
): Promise<void> {
  if (packages.length === 0) return;
  const s = await writeConfig(ctx, d, false);
  await seedAptCache(ctx, s);
  await withPolicyRcD(root, () =>
    runSandboxed(
      ["apt-get", "-q", "--allow-remove-essential", "purge", "--", ...packages],
      sandboxFor(ctx, s, root, false),
    ),
  );
  await fixupAfterInstall(root);
}

export async function dpkgListInstalled(root: string): Promise<InstalledPackage[]> {
  const admindir = join(root, "var/lib/dpkg");
  if (!existsSync(join(admindir, "status"))) return [];
  const r = await runCommand(
    [
      "dpkg-query",
      `--admindir=${admindir}`,
      "--show",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format, not a template
      "--showformat=${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\t${Installed-Size}\\t${source:Package}\\n",
    ],
    { captureStdout: true },
  );
  const out: InstalledPackage[] = [];
  for (const line of r.stdout.split("\n")) {
    const [status, name, version, architecture, size, source] = line.split("\t");
    if (!status?.startsWith("ii") || !name) continue;
    out.push({
      name,
      version: version ?? "",
      architecture: architecture ?? "",
      size: Number(size || 0) * 1024,
      ...(source ? { source } : {}),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function aptCleanMetadata(root: string, mode: "yes" | "no" | "auto" | boolean): Promise<void> {
  const m = mode === true ? "yes" : mode === false ? "no" : mode;
  if (m === "no") return;
  const hasApt = existsSync(join(root, "usr/bin/apt-get")) || existsSync(join(root, "usr/bin/apt"));
  const hasDpkg = existsSync(join(root, "usr/bin/dpkg"));
  if (m === "yes" || !hasApt) {
    for (const p of ["var/lib/apt", "var/cache/apt", "var/log/apt"])
      await rm(join(root, p), { recursive: true, force: true });
  }
  if (m === "yes" || !hasDpkg) {
    for (const p of ["var/lib/dpkg", "var/log/dpkg.log"])
      await rm(join(root, p), { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Local repository (PackageDirectories=, $PACKAGEDIR): a flat repository with a Release file whose
// Origin the preferences pin at a high priority, so local packages win over archive versions.

async function fileDigests(path: string): Promise<{ size: number; md5: string; sha256: string }> {
  const data = await readFile(path);
  return {
    size: data.length,
    md5: createHash("md5").update(data).digest("hex"),
    sha256: createHash("sha256").update(data).digest("hex"),
  };
}

export async function aptCreateLocalRepository(
  dirs: string[],
  repoDir: string,
  signal?: AbortSignal,
): Promise<LocalRepository | undefined> {
  const files: string[] = [];
  for (const d of dirs) {
    const entries = await readdir(d).catch(() => [] as string[]);
    for (const e of entries.sort()) if (e.endsWith(".deb") || e.endsWith(".ddeb")) files.push(join(d, e));
  }
  if (files.length === 0) return undefined;
  await mkdir(repoDir, { recursive: true });
  const names: string[] = [];
  const stanzas: string[] = new Array(files.length);
  await parallel(
    files.map((f, i) => [f, i] as const),
    availableParallelism(),
    async ([f, i]) => {
      const name = basename(f);
      const dest = join(repoDir, name);
      await rm(dest, { force: true });
      await link(f, dest).catch(() => copyFile(f, dest));
      const r = await runCommand(["dpkg-deb", "--field", dest], { captureStdout: true, signal });
      const d = await fileDigests(dest);
      const control = r.stdout.replace(/\n+$/, "");
      stanzas[i] =
        `${control}\nFilename: ./${name}\nSize: ${d.size}\nMD5sum: ${d.md5}\nSHA256: ${d.sha256}\n`;
      names.push(name);
    },
  );
  const packages = stanzas.join("\n");
  await writeFile(join(repoDir, "Packages"), packages);
  const pd = await fileDigests(join(repoDir, "Packages"));
  await writeFile(
    join(repoDir, "Release"),
    [
      `Origin: ${LOCAL_REPO_ORIGIN}`,
      `Label: ${LOCAL_REPO_ORIGIN}`,
      "Suite: mkosi",
      "Codename: mkosi",
      "Date: Thu, 01 Jan 1970 00:00:00 UTC",
      "MD5Sum:",
      ` ${pd.md5} ${pd.size} Packages`,
      "SHA256:",
      ` ${pd.sha256} ${pd.size} Packages`,
      "",
    ].join("\n"),
  );
  return { dir: repoDir, packages: names.sort() };
}

// ---------------------------------------------------------------------------------------------
// Script support: helpers that make apt/dpkg in scripts act on /buildroot.

export async function aptScriptSupport(
  ctx: PackageManagerContext,
  d: AptDistribution,
): Promise<ScriptPackageManagerSupport> {
  const s = await writeConfig(ctx, d, ctx.localRepository !== undefined);
  await seedAptCache(ctx, s);
  await withLocalLists(ctx, s);
  const dpkgOpts = [`--root=${BUILDROOT}`, ...dpkgOptions(ctx.config.WithDocs)]
    .map((o) => `'${o}'`)
    .join(" ");
  const aptWrap = (tool: string) => `#!/bin/sh\nexec /usr/bin/${tool} "$@"\n`;
  const policy =
    'if [ ! -e /buildroot/usr/sbin/policy-rc.d ]; then printf "#!/bin/sh\\nexit 101\\n" >/buildroot/usr/sbin/policy-rc.d; chmod 755 /buildroot/usr/sbin/policy-rc.d; trap "rm -f /buildroot/usr/sbin/policy-rc.d" EXIT; fi\n';
  const aptGet = (args: string) => `#!/bin/sh\n${policy}/usr/bin/apt-get ${args} "$@"\n`;
  const env = aptEnv(ctx, true);
  delete env.PATH;
  delete env.HOME;
  return {
    binds: aptBinds(ctx, s).map((b) => ({ src: b.src, dst: b.dst, readOnly: b.readOnly })),
    env,
    helpers: {
      "mkosi-install": aptGet("install"),
      "mkosi-reinstall": aptGet("install --reinstall"),
      "mkosi-upgrade": aptGet("upgrade"),
      "mkosi-remove": aptGet("purge"),
      "apt-get": aptGet(""),
      apt: `#!/bin/sh\n${policy}/usr/bin/apt "$@"\n`,
      "apt-cache": aptWrap("apt-cache"),
      "apt-mark": aptWrap("apt-mark"),
      "apt-config": aptWrap("apt-config"),
      dpkg: `#!/bin/sh\nexec /usr/bin/dpkg ${dpkgOpts} "$@"\n`,
      "dpkg-query": `#!/bin/sh\nexec /usr/bin/dpkg-query --admindir=/buildroot/var/lib/dpkg "$@"\n`,
    },
  };
}

/** Write the image's own repository configuration (repositories marked inImage) if apt is in the
 * image and it has none yet. */
export async function aptConfigureImageRepositories(
  root: string,
  config: DistroConfig,
  d: AptDistribution,
): Promise<void> {
  if (!existsSync(join(root, "usr/bin/apt-get"))) return;
  const dir = join(root, "etc/apt/sources.list.d");
  const file = join(dir, `${config.Release}.sources`);
  const existing = await readdir(dir).catch(() => [] as string[]);
  if (existing.length > 0) return;
  const repos = d.repositories({ ...config, LocalMirror: null }).filter((r) => r.inImage);
  if (repos.length === 0) return;
  await mkdir(dir, { recursive: true });
  await writeFile(file, renderDeb822(repos));
}

// ---------------------------------------------------------------------------------------------
// The package manager

export const apt: PackageManager<AptDistribution> = {
  name: "apt",
  packageType: "deb",
  tools: PACKAGE_MANAGER_TOOLS.apt,
  syncMetadata: (ctx, d) => aptSyncMetadata(ctx, d),
  bootstrap: (ctx, d, root, options) =>
    withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () => aptBootstrap(ctx, d, root, options)),
  async install(ctx, d, root, packages, options) {
    await withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () =>
      aptInstall(ctx, d, root, packages, options),
    );
    await aptConfigureImageRepositories(root, ctx.config, d);
  },
  remove: (ctx, d, root, packages) =>
    withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () => aptRemove(ctx, d, root, packages)),
  listInstalled: (root) => dpkgListInstalled(root),
  cleanMetadata: (root, mode) => aptCleanMetadata(root, mode),
  createLocalRepository: aptCreateLocalRepository,
  scriptSupport: (ctx, d) => aptScriptSupport(ctx, d),
};
