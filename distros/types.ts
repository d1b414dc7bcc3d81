// The contract between the pipeline (tasks/), distributions and package managers.
//
// A distribution (distros/<name>.ts) is data: which package manager it uses, its default release, root
// filesystem, architecture names, mirrors, repositories and keys. A package manager (distros/pm/<name>.ts)
// drives its tool to sync repository metadata, bootstrap and modify an image root that the caller
// provides (usually a merged overlay mount; see sandbox/overlay.ts), for any distribution that names it.
//
// Every operation gets an explicit PackageManagerContext: where generated configuration and temporary
// state go (workDir, owned by the caller, e.g. a task's tmp dir), where synced repository metadata lives
// (metadataDir: the cacheable output of syncMetadata, read-only for everything else), and the shared
// download cache (packageCacheDir). Nothing is read from the host's package manager configuration.
import type { OutputCallback, TerminalHandoff, ToolsTreeMount } from "../sandbox/run.js";

export type DistributionName =
  | "fedora"
  | "debian"
  | "kali"
  | "ubuntu"
  | "arch"
  | "opensuse"
  | "mageia"
  | "centos"
  | "rhel"
  | "rhel-ubi"
  | "openmandriva"
  | "rocky"
  | "alma"
  | "azure"
  | "custom";

export type PackageManagerName = "apt" | "dnf" | "pacman" | "zypper" | "none";
export type PackageType = "deb" | "rpm" | "pkg" | "none";

/** The slice of an image's configuration distributions and package managers read. Names and value types
 * are those of `mkosi summary --json` (so the pipeline's ImageView can be passed as is). */
export interface DistroConfig {
  Distribution: string;
  Release: string;
  /** mkosi architecture name (x86-64, arm64, ...). */
  Architecture: string;
  Mirror: string | null;
  LocalMirror: string | null;
  RepositoryKeyCheck: boolean;
  Repositories: string[];
  WithDocs: boolean;
  WithRecommends: boolean;
  Bootable?: string;
  ProxyUrl?: string | null;
  Environment?: Record<string, string>;
  /** RepositoryKeyFetch=: rpm and pacman distributions may use keys from the network when none is found
   * locally (absent for apt, which never fetches keys). */
  RepositoryKeyFetch?: boolean;
  /** Locale=: rpm installs only this locale's translations (%_install_langs; rpm distributions only). */
  Locale?: string | null;
  /** ProxyPeerCertificate=, ProxyClientCertificate=, ProxyClientKey= (dnf only). */
  ProxyPeerCertificate?: string | null;
  ProxyClientCertificate?: string | null;
  ProxyClientKey?: string | null;
}

/** Architecture names: mkosi name → the distribution's name. */
export type ArchitectureNames = Readonly<Record<string, string>>;

/** What repository definitions may look up in the package manager's sandbox (the tools tree or host,
 * and the sandbox trees). */
export interface RepositoryLookup {
  /** A key file by file name prefix in /usr/share/distribution-gpg-keys/<any>/ or /etc/pki/rpm-gpg/: a
   * file:// URI as the package manager sees it, or undefined. */
  key(name: string): string | undefined;
  /** The first file in directory `dir` (absolute, as the sandbox sees it) whose name matches, in name
   * order, the sandbox trees before the host: its path in the sandbox, or undefined. */
  file(dir: string, match: (name: string) => boolean): string | undefined;
}

// ---------------------------------------------------------------------------------------------------
// Repositories, one type per package manager.

/** An apt repository (rendered as a deb822 stanza). */
export interface DebRepository {
  /** Short identifier, unique per image ("main", "updates", "security", "local"). */
  id: string;
  types: string[];
  uris: string[];
  suites: string[];
  /** Empty for flat repositories. */
  components: string[];
  /** Keyring files (absolute paths in the sandbox/host), empty when `trusted`. */
  signedBy: string[];
  /** Do not check signatures (RepositoryKeyCheck=no, LocalMirror=, local package repository). */
  trusted: boolean;
  /** Also configure this repository inside the image (false for LocalMirror= and the local repo). */
  inImage: boolean;
}

/** A dnf/zypper repository (rendered as a .repo section). */
export interface RpmRepository {
  id: string;
  /** One of baseurl, mirrorlist or metalink, with the URL (which may use $releasever, $basearch). */
  url: { kind: "baseurl" | "mirrorlist" | "metalink"; value: string };
  /** Key URIs (file:// for local keys, https:// with RepositoryKeyFetch=). */
  gpgurls: string[];
  enabled: boolean;
  priority?: number;
  /** TLS client material (RHEL's CDN): paths as the package manager sees them. */
  sslcacert?: string;
  sslclientcert?: string;
  sslclientkey?: string;
}

/** A pacman repository (a pacman.conf section). */
export interface PacmanRepository {
  id: string;
  url: string;
}

// ---------------------------------------------------------------------------------------------------
// Distributions

interface DistributionBase {
  readonly name: DistributionName;
  readonly prettyName: string;
  readonly defaultRelease: string;
  /** Default root filesystem (for %F and the default root partition). */
  readonly filesystem: string;
  /** The distribution of the default tools tree for images of this distribution. */
  readonly toolsTreeDistribution: DistributionName;
  /** mkosi architecture → the distribution's name; architectures not listed are not supported. */
  readonly architectures: ArchitectureNames;
}

export interface AptDistribution extends DistributionBase {
  readonly packageManager: "apt";
  repositories(config: DistroConfig): DebRepository[];
  /** The Debian package that ships the keyrings the repositories are signed with. */
  readonly keyringPackage: string;
  /** The codename os-release must carry for a release whose base-files names another one (Debian sid). */
  osReleaseCodename?(release: string): string | undefined;
}

export interface DnfDistribution extends DistributionBase {
  readonly packageManager: "dnf";
  repositories(config: DistroConfig, lookup: RepositoryLookup): RpmRepository[];
  /** Installed first into the empty root (rpm's filesystem layout and the release package). */
  readonly bootstrapPackages: string[];
  /** dnf5 only: also download filelists metadata, which some dependencies need (default true). */
  readonly filelists?: boolean;
  /** Variables for $name in repository URLs (/etc/dnf/vars/<name>). */
  dnfVars?(config: DistroConfig): Record<string, string>;
  /** metadata_expire= per repository (Fedora rawhide: 6h). */
  metadataExpire?(config: DistroConfig): string | undefined;
  /** Where rpm keeps its database (%_dbpath). */
  rpmDbPath(config: DistroConfig): string;
  /** rpm's database backend (%_db_backend), when it is not rpm's default. */
  readonly rpmDbBackend?: string;
  /** The rpm-sequoia policy that accepts SHA-1 self-signatures (keys of older releases). */
  sha1KeyPolicy?(config: DistroConfig): boolean;
  /** Refuse a release that cannot be built (with the reason). */
  checkRelease?(config: DistroConfig): void;
}

export interface ZypperDistribution extends DistributionBase {
  readonly packageManager: "zypper";
  repositories(config: DistroConfig, lookup: RepositoryLookup): RpmRepository[];
  readonly bootstrapPackages: string[];
  rpmDbPath(config: DistroConfig): string;
  readonly rpmDbBackend?: string;
  sha1KeyPolicy?(config: DistroConfig): boolean;
  checkRelease?(config: DistroConfig): void;
}

export interface PacmanDistribution extends DistributionBase {
  readonly packageManager: "pacman";
  repositories(config: DistroConfig): PacmanRepository[];
  readonly bootstrapPackages: string[];
  /** The Debian package with the keyring pacman checks signatures against. */
  readonly keyringPackage: string;
}

export interface CustomDistribution extends DistributionBase {
  readonly packageManager: "none";
}

export type Distribution =
  | AptDistribution
  | DnfDistribution
  | ZypperDistribution
  | PacmanDistribution
  | CustomDistribution;

// ---------------------------------------------------------------------------------------------------
// Package managers

export interface PackageManagerContext {
  config: DistroConfig;
  /** Caller-owned scratch directory for this operation: generated configuration, temporary package
   * manager state. Must be on a filesystem that allows device nodes and xattrs; removed by the caller. */
  workDir: string;
  /** Synced repository metadata (written by syncMetadata, treated as read-only afterwards). */
  metadataDir: string;
  /** Downloaded packages, shared between images and invocations. Concurrent users must be serialized
   * by the caller (the engine's resource lock); everything else may run in parallel. */
  packageCacheDir: string;
  /** SandboxTrees=: package manager configuration found here (e.g. etc/apt/sources.list.d/*.sources)
   * replaces what the distribution would generate, as in mkosi. */
  sandboxTrees?: { Source: string; Target: string | null }[];
  /** A local repository built by createLocalRepository (PackageDirectories=, $PACKAGEDIR). */
  localRepository?: string;
  signal?: AbortSignal;
  onOutput?: OutputCallback;
  /** Extra environment for package manager processes and maintainer scripts (Environment=). */
  env?: Record<string, string>;
  /** --debug-shell: a failing package manager command that acts on an image opens a shell in its
   * sandbox (the image at /buildroot) before the error is thrown. */
  debugShell?: TerminalHandoff;
  /** ToolsTree=: the package manager and its helpers run from this tree instead of the host. */
  tools?: ToolsTreeMount;
}

export interface InstalledPackage {
  name: string;
  version: string;
  architecture: string;
  /** Installed size in bytes. */
  size: number;
  /** Source package name (deb), when known. */
  source?: string;
}

export interface InstallOptions {
  /** Allow network access (default true; false for CacheOnly-style offline installs from the cache). */
  network?: boolean;
}

export interface BootstrapOptions extends InstallOptions {
  /** Also install Priority: required packages (apt) on top of the essential set. */
  required?: boolean;
  /** Extra packages installed together with the base set. */
  extraPackages?: string[];
}

export interface LocalRepository {
  /** Directory holding the repository (pass as PackageManagerContext.localRepository). */
  dir: string;
  /** Package files it contains (file names). */
  packages: string[];
}

/** What a package manager adds to a script's sandbox so that mkosi-install, apt-get, dnf, rpm, ... act on
 * the image at /buildroot. */
export interface ScriptPackageManagerSupport {
  binds: { src: string; dst: string; readOnly?: boolean }[];
  /** A directory the scripts' sandbox uses as /etc (the package manager's configuration is there). */
  etc?: string;
  env: Record<string, string>;
  /** Helper executables put on $PATH, by name (shell script text). */
  helpers: Record<string, string>;
}

/** The programs a package manager runs: inputs of the keys of the steps that run them (an upgrade of
 * the program reruns those steps), and what must exist before a build starts. */
export interface PackageManagerTools {
  /** Run in the tools sandbox (from the tools tree when there is one) to sync repository metadata. */
  sync: string[];
  /** Run in the tools sandbox to install or remove packages. */
  install: string[];
  /** Run on the host to list the installed packages (manifests). */
  query: string[];
  /** Run on the host to index a local repository (PackageDirectories=, $PACKAGEDIR). */
  index: string[];
  /** The Debian package that provides each program (named when one is missing). */
  debianPackages: Readonly<Record<string, string>>;
  /** Settings it reads beyond those every package manager reads (see DistroConfig). */
  settings: readonly (keyof DistroConfig)[];
}

/** One package manager, for every distribution that names it. */
export interface PackageManager<D extends Distribution = Distribution> {
  readonly name: PackageManagerName;
  readonly packageType: PackageType;
  readonly tools: PackageManagerTools;
  /** Fetch repository metadata into ctx.metadataDir (network). */
  syncMetadata(ctx: PackageManagerContext, d: D): Promise<void>;
  /** Install the base system into an empty root. */
  bootstrap(ctx: PackageManagerContext, d: D, root: string, options?: BootstrapOptions): Promise<void>;
  /** Install packages into a bootstrapped root. */
  install(
    ctx: PackageManagerContext,
    d: D,
    root: string,
    packages: string[],
    options?: InstallOptions,
  ): Promise<void>;
  /** Remove (purge) packages from the root. */
  remove(ctx: PackageManagerContext, d: D, root: string, packages: string[]): Promise<void>;
  /** Installed packages, sorted by name (for manifests). */
  listInstalled(root: string, d: D): Promise<InstalledPackage[]>;
  /** CleanPackageMetadata=: remove repository metadata and caches; the package database too with "yes". */
  cleanMetadata(root: string, mode: "yes" | "no" | "auto" | boolean, d: D): Promise<void>;
  /** Turn package files found in `dirs` into a local repository at `repoDir`; undefined if none. */
  createLocalRepository(
    dirs: string[],
    repoDir: string,
    signal?: AbortSignal,
  ): Promise<LocalRepository | undefined>;
  /** Sandbox additions for scripts (helpers such as mkosi-install, binds, environment). */
  scriptSupport(ctx: PackageManagerContext, d: D): Promise<ScriptPackageManagerSupport>;
  /** What a build would run, without running it: the configuration written below ctx.workDir (the
   * sandbox's /etc) and the commands of the metadata sync, the bootstrap and the installation of
   * `packages`, with their environment. For comparing with the reference (tests/distros/oracle). */
  describe?(ctx: PackageManagerContext, d: D, packages: string[]): Promise<PackageManagerCalls>;
}

export interface PackageManagerCalls {
  /** The directory the sandbox sees as /etc. */
  etc: string;
  calls: { args: string[]; env: Record<string, string> }[];
}

/** A distribution bound to its package manager: what the pipeline's steps call. */
export interface Installer {
  readonly distribution: Distribution;
  readonly packageManager: PackageManager;
  syncMetadata(ctx: PackageManagerContext): Promise<void>;
  bootstrap(ctx: PackageManagerContext, root: string, options?: BootstrapOptions): Promise<void>;
  install(
    ctx: PackageManagerContext,
    root: string,
    packages: string[],
    options?: InstallOptions,
  ): Promise<void>;
  remove(ctx: PackageManagerContext, root: string, packages: string[]): Promise<void>;
  listInstalled(root: string): Promise<InstalledPackage[]>;
  cleanMetadata(root: string, mode: "yes" | "no" | "auto" | boolean): Promise<void>;
  createLocalRepository(
    dirs: string[],
    repoDir: string,
    signal?: AbortSignal,
  ): Promise<LocalRepository | undefined>;
  scriptSupport(ctx: PackageManagerContext): Promise<ScriptPackageManagerSupport>;
}

export class DistributionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DistributionError";
  }
}
