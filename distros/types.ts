// The contract between the pipeline (tasks/) and distributions. A distribution knows its repositories,
// release and architecture names, keyrings, and drives its package manager to bootstrap and modify an
// image root that the caller provides (usually a merged overlay mount; see sandbox/overlay.ts).
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

/** The slice of an image's configuration distributions read. Names and value types are those of
 * `mkosi summary --json` (so the pipeline's ImageView can be passed as is). */
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
}

/** A package repository in a package-manager neutral form (rendered to deb822, .repo, pacman.conf, ...). */
export interface Repository {
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

/** What a distribution adds to a script's sandbox so that mkosi-install, apt-get, dpkg, ... act on the
 * image at /buildroot. */
export interface ScriptPackageManagerSupport {
  binds: { src: string; dst: string; readOnly?: boolean }[];
  env: Record<string, string>;
  /** Helper executables put on $PATH, by name (shell script text). */
  helpers: Record<string, string>;
}

export interface Distribution {
  readonly name: DistributionName;
  readonly prettyName: string;
  readonly packageManager: PackageManagerName;
  readonly packageType: PackageType;
  defaultRelease(): string;
  /** Default root filesystem (for %F and the default root partition). */
  filesystem(): string;
  /** The distribution's name for a mkosi architecture; throws for unsupported architectures. */
  architecture(arch: string): string;
  defaultMirror(arch: string): string | undefined;
  /** Repositories for the build (and, where inImage, for the image's own configuration). */
  repositories(config: DistroConfig): Repository[];
  /** Keyring files the repositories need; missing ones are reported by checkKeyrings. */
  keyrings(config: DistroConfig): string[];
  /** Fetch repository metadata into ctx.metadataDir (network). */
  syncMetadata(ctx: PackageManagerContext): Promise<void>;
  /** Install the base system into an empty root. */
  bootstrap(ctx: PackageManagerContext, root: string, options?: BootstrapOptions): Promise<void>;
  /** Install packages into a bootstrapped root. */
  install(
    ctx: PackageManagerContext,
    root: string,
    packages: string[],
    options?: InstallOptions,
  ): Promise<void>;
  /** Remove (purge) packages from the root. */
  remove(ctx: PackageManagerContext, root: string, packages: string[]): Promise<void>;
  /** Installed packages, sorted by name (for manifests). */
  listInstalled(root: string): Promise<InstalledPackage[]>;
  /** CleanPackageMetadata=: remove repository metadata and caches; the package database too with "yes". */
  cleanMetadata(root: string, mode: "yes" | "no" | "auto" | boolean): Promise<void>;
  /** Turn package files found in `dirs` into a local repository at `repoDir`; undefined if none. */
  createLocalRepository(
    dirs: string[],
    repoDir: string,
    signal?: AbortSignal,
  ): Promise<LocalRepository | undefined>;
  /** Sandbox additions for scripts (helpers, binds, environment). */
  scriptSupport(ctx: PackageManagerContext): Promise<ScriptPackageManagerSupport>;
}

export class DistributionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DistributionError";
  }
}
