// dnf (4) for Fedora, CentOS, RHEL, RHEL UBI, Alma, Rocky, Mageia, OpenMandriva and Azure Linux.
//
//  * Configuration is generated into a private /etc (pm/common.ts sandboxEtc): dnf/dnf.conf, dnf/plugins,
//    dnf/vars, yum.repos.d/mkosi.repo, rpm/macros.* and, where the distribution needs it, the
//    rpm-sequoia policy; files a sandbox tree provides are kept. Inside the sandbox the paths are fixed:
//      /var/cache/dnf      repository metadata (ctx.metadataDir/dnf; a hard-linked private copy when
//                          installing) with each repository's packages/ bound from the shared cache
//      /repository         the local repository (PackageDirectories=), if any
//      /buildroot          the image (--installroot); dnf's history in /buildroot/var/lib/dnf
//  * syncMetadata: `dnf makecache` into ctx.metadataDir; installs use it with metadata_expire=never.
//  * bootstrap: the distribution's base packages (basesystem, filesystem, ...) into the empty root, no
//    API filesystems (as the reference); install/remove: dnf with /proc, /dev, ... mounted in the image.
import { existsSync } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import {
  type BindMount,
  BUILDROOT,
  runCommand,
  runSandboxed,
  type SandboxOptions,
} from "../../sandbox/run.js";
import { withPackageCacheLock } from "../cachelock.js";
import {
  type BootstrapOptions,
  DistributionError,
  type DistroConfig,
  type DnfDistribution,
  type InstallOptions,
  type PackageManager,
  type PackageManagerCalls,
  type PackageManagerContext,
  type RpmRepository,
  type ScriptPackageManagerSupport,
} from "../types.js";
import {
  fileMirrorBinds,
  packageCachePath,
  packageManagerEnv,
  SandboxLookup,
  sandboxEtc,
  writeUnlessPresent,
} from "./common.js";
import { renderRepoFile, rpmCreateLocalRepository, rpmListInstalled, writeRpmConfig } from "./rpm.js";
import { PACKAGE_MANAGER_TOOLS } from "./tools.js";

const CACHE = "/var/cache/dnf";

/** Node's process.arch → mkosi architecture (to tell a foreign architecture, which needs --forcearch). */
const NATIVE: Record<string, string> = {
  x64: "x86-64",
  arm64: "arm64",
  ppc64: "ppc64-le",
  s390x: "s390x",
  riscv64: "riscv64",
};

export function dnfArchitecture(d: DnfDistribution, arch: string): string {
  const a = d.architectures[arch];
  if (!a) throw new DistributionError(`Architecture ${arch} is not supported by ${d.prettyName}`);
  return a;
}

/** The plugin configuration dnf reads: the Hyperscale reflink plugin on, versionlock off (it fails
 * without a configuration of its own). */
const PLUGINS: Record<string, string> = {
  "reflink.conf": "[main]\nenabled=1\n",
  "versionlock.conf": "[main]\nenabled=0\nlocklist=/dev/null\n",
};

export const LOCAL_REPOSITORY =
  "[mkosi]\nname=mkosi\nbaseurl=file:///repository\ngpgcheck=0\nmetadata_expire=never\npriority=10\n";

/** The configuration files dnf sees below /etc (path relative to /etc → content), as generated for
 * `repos`: what the oracle test compares with the reference. */
export function dnfConfiguration(
  config: DistroConfig,
  d: DnfDistribution,
  repos: readonly RpmRepository[],
): Record<string, string> {
  const files: Record<string, string> = { "dnf/dnf.conf": "" };
  for (const [name, content] of Object.entries(PLUGINS)) files[`dnf/plugins/${name}`] = content;
  for (const [name, value] of Object.entries(d.dnfVars?.(config) ?? {}))
    files[`dnf/vars/${name}`] = `${value}\n`;
  files["yum.repos.d/mkosi.repo"] = renderRepoFile(repos, { metadataExpire: d.metadataExpire?.(config) });
  return files;
}

/** Proxy certificates and key: where the sandbox has them, and dnf's option for each. */
const PROXY_FILES = [
  ["ProxyPeerCertificate", "proxy_sslcacert", "/proxy.cacert"],
  ["ProxyClientCertificate", "proxy_sslclientcert", "/proxy.clientcert"],
  ["ProxyClientKey", "proxy_sslclientkey", "/proxy.clientkey"],
] as const;

/** dnf's command line up to the operation. */
export function dnfCommand(
  config: DistroConfig,
  d: DnfDistribution,
  options: { cachedMetadata: boolean; offline?: boolean },
): string[] {
  const cmd = [
    "dnf",
    "--assumeyes",
    "--best",
    `--releasever=${config.Release}`,
    `--installroot=${BUILDROOT}`,
    "--setopt=keepcache=1",
    "--setopt=logdir=/var/log",
    `--setopt=cachedir=${CACHE}`,
    `--setopt=install_weak_deps=${config.WithRecommends ? 1 : 0}`,
    "--setopt=check_config_file_age=0",
    `--setopt=persistdir=${BUILDROOT}/var/lib/dnf`,
  ];
  if (!config.RepositoryKeyCheck) cmd.push("--nogpgcheck");
  for (const repo of config.Repositories) cmd.push(`--enablerepo=${repo}`);
  if (options.offline) cmd.push("--cacheonly");
  else if (options.cachedMetadata) cmd.push("--setopt=metadata_expire=never");
  if (NATIVE[process.arch] !== config.Architecture)
    cmd.push(`--forcearch=${dnfArchitecture(d, config.Architecture)}`);
  if (!config.WithDocs) cmd.push("--nodocs");
  cmd.push(
    "--config=/etc/dnf/dnf.conf",
    "--setopt=reposdir=/etc/yum.repos.d",
    "--setopt=varsdir=/etc/dnf/vars",
  );
  if (config.ProxyUrl) cmd.push(`--setopt=proxy=${config.ProxyUrl}`);
  for (const [setting, option, path] of PROXY_FILES)
    if (config[setting]) cmd.push(`--setopt=${option}=${path}`);
  return cmd;
}

interface Session {
  etc: string;
  binds: BindMount[];
  /** The metadata dnf reads and writes (ctx.metadataDir/dnf while syncing, else a private copy). */
  cache: string;
}

async function writeConfig(ctx: PackageManagerContext, d: DnfDistribution, local: boolean): Promise<Session> {
  const c = ctx.config;
  d.checkRelease?.(c);
  dnfArchitecture(d, c.Architecture);
  const { etc, binds } = await sandboxEtc(ctx);
  const lookup = new SandboxLookup(ctx, etc);
  // A repository file from a sandbox tree replaces the generated one, as in the reference; the keys are
  // looked up all the same.
  const repos = d.repositories(c, lookup);
  for (const [path, content] of Object.entries(dnfConfiguration(c, d, repos)))
    await writeUnlessPresent(join(etc, path), content);
  await mkdir(join(etc, "dnf/vars"), { recursive: true });
  await writeRpmConfig(
    etc,
    c,
    { path: d.rpmDbPath(c), backend: d.rpmDbBackend },
    d.sha1KeyPolicy?.(c) ?? false,
  );
  if (local) await writeUnlessPresent(join(etc, "yum.repos.d/mkosi-local.repo"), LOCAL_REPOSITORY);
  return {
    etc,
    binds: [...binds, ...lookup.binds, ...fileMirrorBinds(ctx)],
    cache: join(ctx.metadataDir, "dnf"),
  };
}

function sandboxFor(
  ctx: PackageManagerContext,
  s: Session,
  root: string | undefined,
  options: { network: boolean; apivfs: boolean; debugShell?: boolean },
): SandboxOptions {
  const binds: BindMount[] = [...s.binds, { src: s.cache, dst: CACHE }];
  for (const [setting, , path] of PROXY_FILES) {
    const file = ctx.config[setting];
    if (file) binds.push({ src: file, dst: path, readOnly: true });
  }
  if (ctx.localRepository) binds.push({ src: ctx.localRepository, dst: "/repository", readOnly: true });
  return {
    mode: "tools",
    tools: ctx.tools,
    etc: s.etc,
    root,
    apivfs: options.apivfs,
    // dnf logs to /var/log (hawkey) whatever logdir says.
    dirs: ["/var/log"],
    network: options.network,
    env: { ...packageManagerEnv(ctx, options.network), RPM_FORCE_DEBIAN: "1" },
    binds,
    signal: ctx.signal,
    onOutput: ctx.onOutput,
    debugShell: options.debugShell && ctx.debugShell ? { terminal: ctx.debugShell } : undefined,
  };
}

/** Files dnf writes into its cache that record when or by which process it ran: removed so that the
 * synced metadata (and the digest downstream keys use) is a function of the repositories' content. */
const VOLATILE = /^(last_makecache|expired_repos\.json|tempfiles\.json|.*\.pid|.*\.lock|.*\.log)$/;

async function dropVolatile(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await dropVolatile(path);
    else if (VOLATILE.test(entry.name)) await rm(path, { force: true });
  }
}

async function syncMetadata(ctx: PackageManagerContext, d: DnfDistribution): Promise<void> {
  const s = await writeConfig(ctx, d, false);
  await mkdir(s.cache, { recursive: true });
  // dnf logs below the install root even when it installs nothing: give it a scratch one.
  const scratch = join(ctx.workDir, "sync-root");
  await mkdir(join(scratch, "var/log"), { recursive: true });
  try {
    await runSandboxed(
      [...dnfCommand(ctx.config, d, { cachedMetadata: false }), "makecache"],
      sandboxFor(ctx, s, scratch, { network: true, apivfs: false }),
    );
  } catch (e) {
    throw new DistributionError(
      `Fetching repository metadata for ${d.prettyName} ${ctx.config.Release} failed: ${(e as Error).message}`,
    );
  }
  // Downloaded packages belong in the shared package cache, never in the metadata.
  for (const entry of await readdir(s.cache, { withFileTypes: true })) {
    if (entry.isDirectory())
      await rm(join(s.cache, entry.name, "packages"), { recursive: true, force: true });
  }
  await dropVolatile(s.cache);
  // librepo caches checksums in xattrs that record the file's mtime, i.e. when it was downloaded.
  await runCommand([
    "find",
    s.cache,
    "-type",
    "f",
    "-exec",
    "sh",
    "-c",
    'for f; do for a in mtime sha256; do setfattr -x "user.Librepo.checksum.$a" "$f" 2>/dev/null; done; done; true',
    "sh",
    "{}",
    "+",
  ]);
}

/**
 * The metadata as a private, writable copy (hard links: dnf replaces files by rename, so the synced
 * metadata is never modified), with each repository's packages/ bound from the shared package cache, and
 * the local repository synced into it.
 */
async function privateCache(ctx: PackageManagerContext, d: DnfDistribution, s: Session): Promise<void> {
  const cache = join(ctx.workDir, "dnf-cache");
  await rm(cache, { recursive: true, force: true });
  if (existsSync(s.cache)) await runCommand(["cp", "-al", s.cache, cache], { signal: ctx.signal });
  else await mkdir(cache, { recursive: true });
  s.cache = cache;
  if (ctx.localRepository) {
    const scratch = join(ctx.workDir, "sync-root");
    await mkdir(join(scratch, "var/log"), { recursive: true });
    await runSandboxed(
      [
        ...dnfCommand(ctx.config, d, { cachedMetadata: false }),
        "--disablerepo=*",
        "--enablerepo=mkosi",
        "makecache",
      ],
      sandboxFor(ctx, s, scratch, { network: false, apivfs: false }),
    );
  }
  for (const entry of await readdir(cache, { withFileTypes: true })) {
    if (!entry.isDirectory() || !entry.name.includes("-") || entry.name.startsWith("mkosi-")) continue;
    const shared = packageCachePath(ctx, "dnf", entry.name, "packages");
    await mkdir(shared, { recursive: true });
    await mkdir(join(cache, entry.name, "packages"), { recursive: true });
    s.binds.push({ src: shared, dst: `${CACHE}/${entry.name}/packages` });
  }
}

/** dnf writes its logs below the install root's /var/log whatever logdir says; they are not part of
 * the image. */
async function dropLogs(root: string): Promise<void> {
  const log = join(root, "var/log");
  for (const name of await readdir(log).catch(() => [] as string[])) {
    if (/^(dnf|hawkey|yum)/.test(name)) await rm(join(log, name), { recursive: true, force: true });
  }
}

async function run(
  ctx: PackageManagerContext,
  d: DnfDistribution,
  root: string,
  operation: string[],
  options: { network: boolean; apivfs: boolean },
): Promise<void> {
  const s = await writeConfig(ctx, d, ctx.localRepository !== undefined);
  await privateCache(ctx, d, s);
  const cmd = [
    ...dnfCommand(ctx.config, d, { cachedMetadata: true, offline: !options.network }),
    ...operation,
  ];
  try {
    await runSandboxed(cmd, sandboxFor(ctx, s, root, { ...options, debugShell: true }));
  } finally {
    await dropLogs(root);
  }
}

async function bootstrap(
  ctx: PackageManagerContext,
  d: DnfDistribution,
  root: string,
  options: BootstrapOptions = {},
): Promise<void> {
  await run(ctx, d, root, ["install", ...d.bootstrapPackages, ...(options.extraPackages ?? [])], {
    network: options.network ?? true,
    apivfs: false,
  });
}

async function install(
  ctx: PackageManagerContext,
  d: DnfDistribution,
  root: string,
  packages: string[],
  options: InstallOptions = {},
): Promise<void> {
  if (packages.length === 0) return;
  await run(ctx, d, root, ["install", ...packages], { network: options.network ?? true, apivfs: true });
}

async function remove(
  ctx: PackageManagerContext,
  d: DnfDistribution,
  root: string,
  packages: string[],
): Promise<void> {
  if (packages.length === 0) return;
  await run(ctx, d, root, ["remove", ...packages], { network: false, apivfs: true });
}

/** CleanPackageMetadata=: dnf's state and caches go unless dnf is in the image (or "yes"), rpm's database
 * unless rpm is. */
async function cleanMetadata(
  root: string,
  mode: "yes" | "no" | "auto" | boolean,
  d: DnfDistribution,
): Promise<void> {
  const m = mode === true ? "yes" : mode === false ? "no" : mode;
  if (m === "no") return;
  const has = (tool: string) =>
    ["usr/bin", "usr/sbin", "bin", "sbin"].some((dir) => existsSync(join(root, dir, tool)));
  const paths: string[] = [];
  if (m === "yes" || !has("rpm")) paths.push("var/lib/rpm", "usr/lib/sysimage/rpm");
  if (m === "yes" || !has("dnf5")) paths.push("usr/lib/sysimage/libdnf5");
  if (m === "yes" || !has("dnf")) paths.push("var/lib/dnf", "var/cache/dnf");
  void d;
  for (const p of paths) await rm(join(root, p), { recursive: true, force: true });
}

/** Helpers for scripts: dnf and rpm acting on /buildroot, and the mkosi-* commands on top of dnf. */
async function scriptSupport(
  ctx: PackageManagerContext,
  d: DnfDistribution,
): Promise<ScriptPackageManagerSupport> {
  const s = await writeConfig(ctx, d, ctx.localRepository !== undefined);
  await privateCache(ctx, d, s);
  const sandbox = sandboxFor(ctx, s, undefined, { network: true, apivfs: false });
  const dnf = dnfCommand(ctx.config, d, { cachedMetadata: true })
    .map((a) => `'${a}'`)
    .join(" ");
  const env = { ...sandbox.env };
  delete env.PATH;
  delete env.HOME;
  return {
    binds: sandbox.binds ?? [],
    etc: s.etc,
    env: { ...env, HOME: "/" },
    helpers: {
      // dnf logs to /var/log, which the scripts' sandbox does not have.
      dnf: `#!/bin/sh\nmkdir -p /var/log\n/usr/bin/dnf ${dnf.slice("'dnf' ".length)} "$@"\nstatus=$?\nrm -f ${BUILDROOT}/var/log/dnf*.log ${BUILDROOT}/var/log/hawkey.log\nexit $status\n`,
      rpm: `#!/bin/sh\nexec /usr/bin/rpm --root=${BUILDROOT} "$@"\n`,
      "mkosi-install": '#!/bin/sh\nexec dnf install "$@"\n',
      "mkosi-upgrade": '#!/bin/sh\nexec dnf upgrade "$@"\n',
      "mkosi-remove": '#!/bin/sh\nexec dnf remove "$@"\n',
      "mkosi-reinstall": '#!/bin/sh\nexec dnf reinstall "$@"\n',
    },
  };
}

async function describe(
  ctx: PackageManagerContext,
  d: DnfDistribution,
  packages: string[],
): Promise<PackageManagerCalls> {
  const s = await writeConfig(ctx, d, false);
  const env = sandboxFor(ctx, s, undefined, { network: true, apivfs: false }).env ?? {};
  const call = (cachedMetadata: boolean, operation: string[]) => ({
    args: [...dnfCommand(ctx.config, d, { cachedMetadata }), ...operation],
    env,
  });
  return {
    etc: s.etc,
    calls: [
      call(false, ["makecache"]),
      call(true, ["install", ...d.bootstrapPackages]),
      ...(packages.length > 0 ? [call(true, ["install", ...packages])] : []),
    ],
  };
}

export const dnf: PackageManager<DnfDistribution> = {
  name: "dnf",
  packageType: "rpm",
  tools: PACKAGE_MANAGER_TOOLS.dnf,
  syncMetadata,
  bootstrap: (ctx, d, root, options) =>
    withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () => bootstrap(ctx, d, root, options)),
  install: (ctx, d, root, packages, options) =>
    withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () => install(ctx, d, root, packages, options)),
  remove: (ctx, d, root, packages) =>
    withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () => remove(ctx, d, root, packages)),
  listInstalled: (root) => rpmListInstalled(root),
  cleanMetadata,
  createLocalRepository: rpmCreateLocalRepository,
  scriptSupport,
  describe,
};
