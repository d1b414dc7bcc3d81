// zypper for openSUSE.
//
//  * Configuration in a private /etc (pm/common.ts): zypp/zypp.conf (a sandbox tree's, with mkosi's
//    [main] settings appended), zypp/repos.d/mkosi.repo, rpm/macros.* and the rpm-sequoia policy.
//      /var/cache/zypp           repository metadata (ctx.metadataDir/zypp; a hard-linked private copy
//                                when installing), packages/ bound from the shared package cache
//      /repository               the local repository (PackageDirectories=), if any
//      /buildroot                the image (--installroot)
//  * syncMetadata: `zypper refresh`; installs run with --no-refresh.
//  * bootstrap: the keys are imported into the image's rpm database first (zypper trusts them), then
//    `filesystem` is installed into the empty root.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { appendFile, mkdir, readdir, rm } from "node:fs/promises";
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
  type InstallOptions,
  type PackageManager,
  type PackageManagerCalls,
  type PackageManagerContext,
  type RpmRepository,
  type ScriptPackageManagerSupport,
  type ZypperDistribution,
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

const CACHE = "/var/cache/zypp";

export const LOCAL_REPOSITORY =
  "[mkosi]\nname=mkosi\nbaseurl=file:///repository\ngpgcheck=0\nautorefresh=0\nkeeppackages=0\npriority=10\n";

/** mkosi's zypp.conf settings: docs per WithDocs=, and dnf's refresh delay (48 hours). */
export function zyppConf(config: DistroConfig): string {
  return `\n[main]\nrpm.install.excludedocs = ${config.WithDocs ? "no" : "yes"}\nrepo.refresh.delay = ${48 * 60}\n`;
}

/** zypper keys its caches by repository id: the id gets a hash of the URL so that two configurations
 * with the same ids never share a cache. */
function section(r: RpmRepository): string {
  const url = `${r.url.kind}=${r.url.value}`;
  return `${r.id}-${createHash("sha256").update(url).digest("hex").slice(0, 16)}`;
}

export function zypperRepoFile(repos: readonly RpmRepository[]): string {
  return renderRepoFile(repos, { section, extra: ["autorefresh=0", "keeppackages=1"], ssl: false });
}

export function zypperCommand(config: DistroConfig): string[] {
  return [
    "zypper",
    `--installroot=${BUILDROOT}`,
    `--cache-dir=${CACHE}`,
    "--non-interactive",
    "--no-refresh",
    `--releasever=${config.Release}`,
    ...(config.RepositoryKeyFetch ? ["--gpg-auto-import-keys"] : []),
    ...(config.RepositoryKeyCheck ? [] : ["--no-gpg-checks"]),
    ...config.Repositories.map((repo) => `--plus-content=${repo}`),
  ];
}

function installArgs(config: DistroConfig, packages: string[]): string[] {
  return [
    "install",
    "--download",
    "in-advance",
    config.WithRecommends ? "--recommends" : "--no-recommends",
    ...packages,
  ];
}

interface Session {
  etc: string;
  binds: BindMount[];
  cache: string;
  /** Keys of the repositories (file:// URIs), imported into the image before the bootstrap. */
  keys: string[];
}

async function writeConfig(
  ctx: PackageManagerContext,
  d: ZypperDistribution,
  local: boolean,
): Promise<Session> {
  const c = ctx.config;
  d.checkRelease?.(c);
  if (!d.architectures[c.Architecture])
    throw new DistributionError(`Architecture ${c.Architecture} is not supported by ${d.prettyName}`);
  const { etc, binds } = await sandboxEtc(ctx);
  const lookup = new SandboxLookup(ctx, etc);
  const repos = d.repositories(c, lookup);
  await mkdir(join(etc, "zypp"), { recursive: true });
  await appendFile(join(etc, "zypp/zypp.conf"), zyppConf(c));
  await writeUnlessPresent(join(etc, "zypp/repos.d/mkosi.repo"), zypperRepoFile(repos));
  await writeRpmConfig(
    etc,
    c,
    { path: d.rpmDbPath(c), backend: d.rpmDbBackend },
    d.sha1KeyPolicy?.(c) ?? false,
  );
  if (local) await writeUnlessPresent(join(etc, "zypp/repos.d/mkosi-local.repo"), LOCAL_REPOSITORY);
  // The keys the repositories share (as found, duplicates included, like the reference).
  const keys = (repos[0]?.gpgurls ?? []).filter((k) => k.startsWith("file://"));
  return {
    etc,
    binds: [...binds, ...lookup.binds, ...fileMirrorBinds(ctx)],
    cache: join(ctx.metadataDir, "zypp"),
    keys,
  };
}

function sandboxFor(
  ctx: PackageManagerContext,
  s: Session,
  root: string | undefined,
  options: { network: boolean; apivfs: boolean; debugShell?: boolean },
): SandboxOptions {
  const binds: BindMount[] = [...s.binds, { src: s.cache, dst: CACHE }];
  if (ctx.localRepository) binds.push({ src: ctx.localRepository, dst: "/repository", readOnly: true });
  return {
    mode: "tools",
    tools: ctx.tools,
    etc: s.etc,
    root,
    apivfs: options.apivfs,
    dirs: ["/var/log"],
    network: options.network,
    env: {
      ...packageManagerEnv(ctx, options.network),
      ZYPP_CONF: "/etc/zypp/zypp.conf",
      RPM_FORCE_DEBIAN: "1",
    },
    binds,
    signal: ctx.signal,
    onOutput: ctx.onOutput,
    debugShell: options.debugShell && ctx.debugShell ? { terminal: ctx.debugShell } : undefined,
  };
}

/** Files zypper writes into its cache that record when it ran (or are zypper's own locks). */
const VOLATILE = /^(cookie|\.timestamp|.*\.lock|.*\.pid)$/;

async function dropVolatile(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await dropVolatile(path);
    else if (VOLATILE.test(entry.name)) await rm(path, { force: true });
  }
}

/** rpm imports the repositories' keys into the image's database, for zypper to trust them. */
function importKeys(keys: string[]): string[] {
  return ["rpm", `--root=${BUILDROOT}`, "--import", ...keys.map((k) => k.slice("file://".length))];
}

async function syncMetadata(ctx: PackageManagerContext, d: ZypperDistribution): Promise<void> {
  const s = await writeConfig(ctx, d, false);
  await mkdir(s.cache, { recursive: true });
  const scratch = join(ctx.workDir, "sync-root");
  await mkdir(scratch, { recursive: true });
  const sandbox = sandboxFor(ctx, s, scratch, { network: true, apivfs: false });
  try {
    // zypper checks the repositories' signatures against the keys in the root's rpm database.
    if (s.keys.length > 0) await runSandboxed(importKeys(s.keys), sandbox);
    await runSandboxed([...zypperCommand(ctx.config), "refresh"], sandbox);
  } catch (e) {
    throw new DistributionError(
      `Fetching repository metadata for ${d.prettyName} ${ctx.config.Release} failed: ${(e as Error).message}`,
    );
  }
  await rm(join(s.cache, "packages"), { recursive: true, force: true });
  await dropVolatile(s.cache);
}

async function privateCache(ctx: PackageManagerContext, s: Session): Promise<void> {
  const cache = join(ctx.workDir, "zypp-cache");
  await rm(cache, { recursive: true, force: true });
  if (existsSync(s.cache)) await runCommand(["cp", "-al", s.cache, cache], { signal: ctx.signal });
  else await mkdir(cache, { recursive: true });
  s.cache = cache;
  const shared = packageCachePath(ctx, "zypp", "packages");
  await mkdir(shared, { recursive: true });
  await mkdir(join(cache, "packages"), { recursive: true });
  s.binds.push({ src: shared, dst: `${CACHE}/packages` });
  if (ctx.localRepository) {
    const scratch = join(ctx.workDir, "sync-root");
    await mkdir(scratch, { recursive: true });
    await runSandboxed(
      [...zypperCommand(ctx.config), "refresh", "--force", "mkosi"],
      sandboxFor(ctx, s, scratch, { network: false, apivfs: false }),
    );
  }
}

async function run(
  ctx: PackageManagerContext,
  d: ZypperDistribution,
  root: string,
  operation: string[],
  options: { network: boolean; apivfs: boolean; importKeys?: boolean },
): Promise<void> {
  const s = await writeConfig(ctx, d, ctx.localRepository !== undefined);
  await privateCache(ctx, s);
  const sandbox = sandboxFor(ctx, s, root, { ...options, debugShell: true });
  if (options.importKeys && s.keys.length > 0) {
    await runSandboxed(importKeys(s.keys), { ...sandbox, apivfs: false });
  }
  await runSandboxed([...zypperCommand(ctx.config), ...operation], sandbox);
}

async function bootstrap(
  ctx: PackageManagerContext,
  d: ZypperDistribution,
  root: string,
  options: BootstrapOptions = {},
): Promise<void> {
  await run(
    ctx,
    d,
    root,
    installArgs(ctx.config, [...d.bootstrapPackages, ...(options.extraPackages ?? [])]),
    {
      network: options.network ?? true,
      apivfs: false,
      importKeys: true,
    },
  );
}

async function install(
  ctx: PackageManagerContext,
  d: ZypperDistribution,
  root: string,
  packages: string[],
  options: InstallOptions = {},
): Promise<void> {
  if (packages.length === 0) return;
  await run(ctx, d, root, installArgs(ctx.config, packages), {
    network: options.network ?? true,
    apivfs: true,
  });
}

async function remove(
  ctx: PackageManagerContext,
  d: ZypperDistribution,
  root: string,
  packages: string[],
): Promise<void> {
  if (packages.length === 0) return;
  await run(ctx, d, root, ["--ignore-unknown", "remove", "--clean-deps", ...packages], {
    network: false,
    apivfs: true,
  });
}

async function cleanMetadata(root: string, mode: "yes" | "no" | "auto" | boolean): Promise<void> {
  const m = mode === true ? "yes" : mode === false ? "no" : mode;
  if (m === "no") return;
  const has = (tool: string) =>
    ["usr/bin", "usr/sbin", "bin", "sbin"].some((dir) => existsSync(join(root, dir, tool)));
  const paths: string[] = [];
  if (m === "yes" || !has("rpm")) paths.push("var/lib/rpm", "usr/lib/sysimage/rpm");
  if (m === "yes" || !has("zypper")) paths.push("var/lib/zypp", "var/cache/zypp");
  for (const p of paths) await rm(join(root, p), { recursive: true, force: true });
}

async function scriptSupport(
  ctx: PackageManagerContext,
  d: ZypperDistribution,
): Promise<ScriptPackageManagerSupport> {
  const s = await writeConfig(ctx, d, ctx.localRepository !== undefined);
  await privateCache(ctx, s);
  const sandbox = sandboxFor(ctx, s, undefined, { network: true, apivfs: false });
  const zypper = zypperCommand(ctx.config)
    .slice(1)
    .map((a) => `'${a}'`)
    .join(" ");
  const env = { ...sandbox.env };
  delete env.PATH;
  const install = `install --download in-advance ${ctx.config.WithRecommends ? "--recommends" : "--no-recommends"}`;
  return {
    binds: sandbox.binds ?? [],
    etc: s.etc,
    env,
    helpers: {
      zypper: `#!/bin/sh\nexec /usr/bin/zypper ${zypper} "$@"\n`,
      rpm: `#!/bin/sh\nexec /usr/bin/rpm --root=${BUILDROOT} "$@"\n`,
      "mkosi-install": `#!/bin/sh\nexec zypper ${install} "$@"\n`,
      "mkosi-upgrade": '#!/bin/sh\nexec zypper update "$@"\n',
      "mkosi-remove": '#!/bin/sh\nexec zypper --ignore-unknown remove --clean-deps "$@"\n',
      "mkosi-reinstall": `#!/bin/sh\nexec zypper ${install} --force "$@"\n`,
    },
  };
}

async function describe(
  ctx: PackageManagerContext,
  d: ZypperDistribution,
  packages: string[],
): Promise<PackageManagerCalls> {
  const s = await writeConfig(ctx, d, false);
  const env = sandboxFor(ctx, s, undefined, { network: true, apivfs: false }).env ?? {};
  const base = zypperCommand(ctx.config);
  return {
    etc: s.etc,
    calls: [
      ...(s.keys.length > 0 ? [{ args: importKeys(s.keys), env }] : []),
      { args: [...base, "refresh"], env },
      { args: [...base, ...installArgs(ctx.config, d.bootstrapPackages)], env },
      ...(packages.length > 0 ? [{ args: [...base, ...installArgs(ctx.config, packages)], env }] : []),
    ],
  };
}

export const zypper: PackageManager<ZypperDistribution> = {
  name: "zypper",
  packageType: "rpm",
  tools: PACKAGE_MANAGER_TOOLS.zypper,
  syncMetadata,
  bootstrap: (ctx, d, root, options) =>
    withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () => bootstrap(ctx, d, root, options)),
  install: (ctx, d, root, packages, options) =>
    withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () => install(ctx, d, root, packages, options)),
  remove: (ctx, d, root, packages) =>
    withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () => remove(ctx, d, root, packages)),
  listInstalled: (root) => rpmListInstalled(root),
  cleanMetadata: (root, mode) => cleanMetadata(root, mode),
  createLocalRepository: rpmCreateLocalRepository,
  scriptSupport,
  describe,
};
