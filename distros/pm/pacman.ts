// pacman for Arch Linux.
//
//  * Configuration in a private /etc (pm/common.ts): pacman.conf (a sandbox tree's is kept, without
//    DownloadUser, as there is no such user in the sandbox), mkosi-local.conf (the local repository, or
//    empty), pacman.d/ from the sandbox trees, and a keyring made by pacman-key (see keyring())
//    from the archlinux-keyring of the tools tree or host. Inside the sandbox:
//      /var/lib/pacman          the sync databases (ctx.metadataDir/pacman; a hard-linked private copy
//                               when installing), with local/ bound from the image's /var/lib/pacman/local
//      /var/cache/pacman/pkg    the shared package cache
//      /var/cache/pacman/mkosi  the local repository (read-only, so pacman looks there first but never
//                               writes there)
//      /buildroot               the image (--root)
//  * syncMetadata: `pacman --sync --refresh`; bootstrap: `filesystem` into the empty root.
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
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
  type InstalledPackage,
  type InstallOptions,
  type LocalRepository,
  type PackageManager,
  type PackageManagerCalls,
  type PackageManagerContext,
  type PacmanDistribution,
  type PacmanRepository,
  type ScriptPackageManagerSupport,
} from "../types.js";
import {
  collectPackages,
  fileMirrorBinds,
  packageCachePath,
  packageManagerEnv,
  sandboxEtc,
} from "./common.js";
import { PACKAGE_MANAGER_TOOLS } from "./tools.js";

const DB = "/var/lib/pacman";
const PKG_CACHE = "/var/cache/pacman/pkg";
const LOCAL_CACHE = "/var/cache/pacman/mkosi";

export const LOCAL_REPOSITORY =
  "[mkosi]\nServer = file:///i/dont/exist\nSigLevel = Never\nUsage = Install Search Upgrade\n";

const NO_DOCS = [
  "usr/share/doc/*",
  "usr/share/man/*",
  "usr/share/groff/*",
  "usr/share/gtk-doc/*",
  "usr/share/info/*",
];

export function pacmanArchitecture(d: PacmanDistribution, arch: string): string {
  const a = d.architectures[arch];
  if (!a) throw new DistributionError(`Architecture ${arch} is not supported by ${d.prettyName}`);
  return a;
}

/** pacman.conf as generated: options, the local repository first (so it wins), the sandbox trees'
 * pacman.d snippets, then the distribution's repositories. */
export function pacmanConf(
  config: DistroConfig,
  d: PacmanDistribution,
  repos: readonly PacmanRepository[],
  snippets: boolean,
): string {
  let out = "[options]\n";
  out += `SigLevel = ${config.RepositoryKeyCheck ? "Required DatabaseOptional" : "Never"}\n`;
  out += "LocalFileSigLevel = Optional\nParallelDownloads = 5\n";
  out += `Architecture = ${pacmanArchitecture(d, config.Architecture)}\n\n`;
  if (!config.WithDocs) for (const p of NO_DOCS) out += `NoExtract = ${p}\n`;
  out += "Include = /etc/mkosi-local.conf\n";
  if (snippets) out += "\nInclude = /etc/pacman.d/*.conf\n";
  for (const r of repos) out += `\n[${r.id}]\nServer = ${r.url}\n`;
  return out;
}

export function pacmanCommand(config: DistroConfig, d: PacmanDistribution): string[] {
  return [
    "pacman",
    `--root=${BUILDROOT}`,
    "--logfile=/dev/null",
    `--dbpath=${DB}`,
    // The local repository first: it is read-only, so new downloads go to the second.
    `--cachedir=${LOCAL_CACHE}`,
    `--cachedir=${PKG_CACHE}`,
    `--hookdir=${BUILDROOT}/etc/pacman.d/hooks`,
    "--arch",
    pacmanArchitecture(d, config.Architecture),
    "--color",
    "auto",
    "--noconfirm",
  ];
}

const installArgs = (packages: string[]) => [
  "--sync",
  "--needed",
  "--assume-installed",
  "initramfs",
  ...packages,
];

interface Session {
  etc: string;
  binds: BindMount[];
  db: string;
}

async function writeConfig(ctx: PackageManagerContext, d: PacmanDistribution): Promise<Session> {
  const c = ctx.config;
  pacmanArchitecture(d, c.Architecture);
  const { etc, binds } = await sandboxEtc(ctx);
  const conf = join(etc, "pacman.conf");
  if (existsSync(conf)) {
    const text = await readFile(conf, "utf8");
    await writeFile(
      conf,
      text
        .split("\n")
        .filter((l) => !l.trim().startsWith("DownloadUser"))
        .join("\n"),
    );
  } else {
    const snippets = (await readdir(join(etc, "pacman.d")).catch(() => [] as string[])).some((n) =>
      n.endsWith(".conf"),
    );
    await writeFile(conf, pacmanConf(c, d, d.repositories(c), snippets));
  }
  await writeFile(join(etc, "mkosi-local.conf"), ctx.localRepository ? LOCAL_REPOSITORY : "");
  // The mount point of the keyring.
  await mkdir(join(etc, "pacman.d/gnupg"), { recursive: true });
  return { etc, binds: [...binds, ...fileMirrorBinds(ctx)], db: join(ctx.metadataDir, "pacman") };
}

function sandboxFor(
  ctx: PackageManagerContext,
  s: Session,
  root: string | undefined,
  options: { network: boolean; apivfs: boolean; debugShell?: boolean },
): SandboxOptions {
  const binds: BindMount[] = [...s.binds, { src: s.db, dst: DB }];
  binds.push({ src: packageCachePath(ctx, "pacman", "pkg"), dst: PKG_CACHE });
  if (ctx.localRepository) binds.push({ src: ctx.localRepository, dst: LOCAL_CACHE, readOnly: true });
  return {
    mode: "tools",
    tools: ctx.tools,
    etc: s.etc,
    root,
    apivfs: options.apivfs,
    network: options.network,
    env: packageManagerEnv(ctx, options.network),
    binds,
    signal: ctx.signal,
    onOutput: ctx.onOutput,
    debugShell: options.debugShell && ctx.debugShell ? { terminal: ctx.debugShell } : undefined,
  };
}

const KEYRING_CALLS = [
  ["pacman-key", "--init"],
  ["pacman-key", "--populate"],
];

/**
 * With RepositoryKeyCheck=, pacman's keyring (pacman-key --init, then --populate from the
 * archlinux-keyring of the tools tree or host). It is kept next to the downloaded packages, made once per
 * package cache: --init creates a random master key, so it must not enter the synced metadata (whose
 * digest would change on every sync), and making it takes a minute. The reference makes it for every
 * build, even with RepositoryKeyCheck=no, when pacman checks no signature and needs none.
 */
async function keyring(ctx: PackageManagerContext, s: Session, d: PacmanDistribution): Promise<void> {
  if (!ctx.config.RepositoryKeyCheck) return;
  const dir = join(ctx.packageCacheDir, "pacman", `gnupg-${ctx.tools ? "tools" : "host"}`);
  if (!existsSync(dir)) {
    const tmp = `${dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    const sandbox: SandboxOptions = {
      ...sandboxFor(ctx, s, undefined, { network: false, apivfs: false }),
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/" },
      binds: [...s.binds, { src: tmp, dst: "/etc/pacman.d/gnupg" }],
    };
    try {
      for (const call of KEYRING_CALLS) await runSandboxed(call, sandbox);
      await rename(tmp, dir).catch(async () => rm(tmp, { recursive: true, force: true }));
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw new DistributionError(
        `Populating the pacman keyring failed (install ${d.keyringPackage}, or set RepositoryKeyCheck=no): ${(e as Error).message}`,
      );
    }
  }
  // gpg writes its lock files even when it only verifies: a private copy.
  const copy = join(ctx.workDir, "gnupg");
  await rm(copy, { recursive: true, force: true });
  await runCommand(["cp", "-a", dir, copy]);
  s.binds.push({ src: copy, dst: "/etc/pacman.d/gnupg" });
}

async function syncMetadata(ctx: PackageManagerContext, d: PacmanDistribution): Promise<void> {
  const s = await writeConfig(ctx, d);
  await mkdir(join(s.db, "sync"), { recursive: true });
  await rm(join(s.db, "local"), { recursive: true, force: true });
  await symlink(`${BUILDROOT}/var/lib/pacman/local`, join(s.db, "local"));
  await mkdir(packageCachePath(ctx, "pacman", "pkg"), { recursive: true });
  await keyring(ctx, s, d);
  const scratch = join(ctx.workDir, "sync-root");
  await mkdir(join(scratch, "var/lib/pacman/local"), { recursive: true });
  try {
    await runSandboxed(
      [...pacmanCommand(ctx.config, d), "--sync", "--refresh"],
      sandboxFor(ctx, s, scratch, { network: true, apivfs: false }),
    );
  } catch (e) {
    throw new DistributionError(
      `Fetching repository metadata for ${d.prettyName} failed: ${(e as Error).message}`,
    );
  }
  await rm(join(s.db, "db.lck"), { force: true });
  await rm(join(s.db, "local"), { force: true });
}

/** The sync databases as a private copy, with the local repository's database added. */
async function privateDb(ctx: PackageManagerContext, s: Session): Promise<void> {
  const db = join(ctx.workDir, "pacman-db");
  await rm(db, { recursive: true, force: true });
  if (existsSync(s.db)) await runCommand(["cp", "-al", s.db, db], { signal: ctx.signal });
  await mkdir(join(db, "sync"), { recursive: true });
  // The installed packages' database belongs to the image.
  await rm(join(db, "local"), { recursive: true, force: true });
  await symlink(`${BUILDROOT}/var/lib/pacman/local`, join(db, "local"));
  s.db = db;
  await mkdir(packageCachePath(ctx, "pacman", "pkg"), { recursive: true });
  // pacman cannot sync a single repository: the local repository's database is put in place directly.
  if (ctx.localRepository)
    await runCommand(["cp", join(ctx.localRepository, "mkosi.db.tar"), join(db, "sync", "mkosi.db")]);
}

async function run(
  ctx: PackageManagerContext,
  d: PacmanDistribution,
  root: string,
  operation: string[],
  options: { network: boolean; apivfs: boolean },
): Promise<void> {
  const s = await writeConfig(ctx, d);
  await privateDb(ctx, s);
  await keyring(ctx, s, d);
  await mkdir(join(root, "var/lib/pacman/local"), { recursive: true, mode: 0o755 });
  const sandbox = sandboxFor(ctx, s, root, { ...options, debugShell: true });
  await runSandboxed([...pacmanCommand(ctx.config, d), ...operation], sandbox);
}

async function bootstrap(
  ctx: PackageManagerContext,
  d: PacmanDistribution,
  root: string,
  options: BootstrapOptions = {},
): Promise<void> {
  await run(ctx, d, root, installArgs([...d.bootstrapPackages, ...(options.extraPackages ?? [])]), {
    network: options.network ?? true,
    apivfs: false,
  });
}

async function install(
  ctx: PackageManagerContext,
  d: PacmanDistribution,
  root: string,
  packages: string[],
  options: InstallOptions = {},
): Promise<void> {
  if (packages.length === 0) return;
  await run(ctx, d, root, installArgs(packages), { network: options.network ?? true, apivfs: true });
}

async function remove(
  ctx: PackageManagerContext,
  d: PacmanDistribution,
  root: string,
  packages: string[],
): Promise<void> {
  if (packages.length === 0) return;
  await run(ctx, d, root, ["--remove", "--nosave", "--recursive", ...packages], {
    network: false,
    apivfs: true,
  });
}

/** Installed packages from pacman's local database (name, version, architecture, as the reference: no
 * size). */
async function listInstalled(root: string): Promise<InstalledPackage[]> {
  const local = join(root, "var/lib/pacman/local");
  const out: InstalledPackage[] = [];
  for (const entry of await readdir(local).catch(() => [] as string[])) {
    const desc = await readFile(join(local, entry, "desc"), "utf8").catch(() => undefined);
    if (!desc) continue;
    const field = (name: string) => new RegExp(`^%${name}%\\n(.*)$`, "m").exec(desc)?.[1]?.trim() ?? "";
    const base = field("BASE");
    out.push({
      name: field("NAME"),
      version: field("VERSION"),
      architecture: field("ARCH"),
      size: 0,
      ...(base ? { source: base } : {}),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function cleanMetadata(root: string, mode: "yes" | "no" | "auto" | boolean): Promise<void> {
  const m = mode === true ? "yes" : mode === false ? "no" : mode;
  if (m === "no") return;
  const has = ["usr/bin", "bin"].some((dir) => existsSync(join(root, dir, "pacman")));
  if (m === "yes" || !has)
    for (const p of ["var/lib/pacman", "var/cache/pacman"])
      await rm(join(root, p), { recursive: true, force: true });
}

/** Compare package file names by version, as repo-add must see them (older first, newest wins). */
function byVersion(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}

async function createLocalRepository(
  dirs: string[],
  repoDir: string,
  signal?: AbortSignal,
): Promise<LocalRepository | undefined> {
  const names = await collectPackages(dirs, repoDir, (n) => /\.pkg\.tar(\.[a-z0-9]+)?$/.test(n));
  if (names.length === 0) return undefined;
  await runCommand(
    [
      "repo-add",
      "--quiet",
      join(repoDir, "mkosi.db.tar"),
      ...[...names].sort(byVersion).map((n) => join(repoDir, n)),
    ],
    { signal },
  );
  return { dir: repoDir, packages: names };
}

async function scriptSupport(
  ctx: PackageManagerContext,
  d: PacmanDistribution,
): Promise<ScriptPackageManagerSupport> {
  const s = await writeConfig(ctx, d);
  await privateDb(ctx, s);
  await keyring(ctx, s, d);
  const sandbox = sandboxFor(ctx, s, undefined, { network: true, apivfs: false });
  const binds = [...(sandbox.binds ?? [])];
  const pacman = pacmanCommand(ctx.config, d)
    .slice(1)
    .map((a) => `'${a}'`)
    .join(" ");
  const env = { ...sandbox.env };
  delete env.PATH;
  return {
    binds,
    etc: s.etc,
    env,
    helpers: {
      pacman: `#!/bin/sh\nmkdir -p ${BUILDROOT}/var/lib/pacman/local\nexec /usr/bin/pacman ${pacman} "$@"\n`,
      "mkosi-install": '#!/bin/sh\nexec pacman --sync --needed "$@"\n',
      "mkosi-upgrade": '#!/bin/sh\nexec pacman --sync --sysupgrade --needed "$@"\n',
      "mkosi-remove": '#!/bin/sh\nexec pacman --remove --recursive --nosave "$@"\n',
      "mkosi-reinstall": '#!/bin/sh\nexec pacman --sync "$@"\n',
    },
  };
}

async function describe(
  ctx: PackageManagerContext,
  d: PacmanDistribution,
  packages: string[],
): Promise<PackageManagerCalls> {
  const s = await writeConfig(ctx, d);
  const env = sandboxFor(ctx, s, undefined, { network: true, apivfs: false }).env ?? {};
  const base = pacmanCommand(ctx.config, d);
  const keyringEnv = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/" };
  return {
    etc: s.etc,
    calls: [
      ...(ctx.config.RepositoryKeyCheck ? KEYRING_CALLS.map((args) => ({ args, env: keyringEnv })) : []),
      { args: [...base, "--sync", "--refresh"], env },
      { args: [...base, ...installArgs(d.bootstrapPackages)], env },
      ...(packages.length > 0 ? [{ args: [...base, ...installArgs(packages)], env }] : []),
    ],
  };
}

export const pacman: PackageManager<PacmanDistribution> = {
  name: "pacman",
  packageType: "pkg",
  tools: PACKAGE_MANAGER_TOOLS.pacman,
  syncMetadata: (ctx, d) => withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () => syncMetadata(ctx, d)),
  bootstrap: (ctx, d, root, options) =>
    withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () => bootstrap(ctx, d, root, options)),
  install: (ctx, d, root, packages, options) =>
    withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () => install(ctx, d, root, packages, options)),
  remove: (ctx, d, root, packages) =>
    withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () => remove(ctx, d, root, packages)),
  listInstalled: (root) => listInstalled(root),
  cleanMetadata: (root, mode) => cleanMetadata(root, mode),
  createLocalRepository,
  scriptSupport,
  describe,
};
