// Debian and the distributions that share its code path (Ubuntu, Kali): they differ only in
// repositories, defaults and keyrings; everything else is the apt driver in apt.ts.
import {
  type AptFlavour,
  aptBootstrap,
  aptCleanMetadata,
  aptConfigureImageRepositories,
  aptCreateLocalRepository,
  aptInstall,
  aptRemove,
  aptScriptSupport,
  aptSyncMetadata,
  debianArchitecture,
  dpkgListInstalled,
} from "./apt.js";
import { withPackageCacheLock } from "./cachelock.js";
import type {
  Distribution,
  DistributionName,
  DistroConfig,
  PackageManagerContext,
  Repository,
} from "./types.js";

export const DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";
export const UBUNTU_KEYRING = "/usr/share/keyrings/ubuntu-archive-keyring.gpg";
export const KALI_KEYRING = "/usr/share/keyrings/kali-archive-keyring.gpg";

function stripSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

function components(config: DistroConfig): string[] {
  const out = ["main"];
  for (const r of config.Repositories) if (!out.includes(r)) out.push(r);
  return out;
}

function repo(
  id: string,
  uri: string,
  suite: string,
  config: DistroConfig,
  keyring: string,
  inImage = true,
): Repository {
  return {
    id,
    types: ["deb"],
    uris: [uri],
    suites: [suite],
    components: components(config),
    signedBy: config.RepositoryKeyCheck ? [keyring] : [],
    trusted: !config.RepositoryKeyCheck,
    inImage,
  };
}

/** LocalMirror=: a single plain repository, trusted, used for the build only. */
function localMirror(config: DistroConfig): Repository[] {
  return [
    {
      id: "local-mirror",
      types: ["deb"],
      uris: [stripSlash(config.LocalMirror!)],
      suites: [config.Release],
      components: components(config),
      signedBy: [],
      trusted: true,
      inImage: false,
    },
  ];
}

/** Releases without -updates and -security suites. */
const DEBIAN_ROLLING = new Set(["sid", "unstable", "experimental", "rc-buggy"]);

export function debianRepositories(config: DistroConfig): Repository[] {
  if (config.LocalMirror) return localMirror(config);
  const mirror = stripSlash(config.Mirror ?? "http://deb.debian.org/debian");
  const release = config.Release;
  const repos = [repo("main", mirror, release, config, DEBIAN_KEYRING)];
  if (!DEBIAN_ROLLING.has(release)) {
    repos.push(repo("updates", mirror, `${release}-updates`, config, DEBIAN_KEYRING));
    // The security archive lives next to the main archive on deb.debian.org-style mirrors.
    const security = mirror.endsWith("/debian")
      ? `${mirror}-security`
      : "http://security.debian.org/debian-security";
    repos.push(repo("security", security, `${release}-security`, config, DEBIAN_KEYRING));
  }
  return repos;
}

export function ubuntuRepositories(config: DistroConfig): Repository[] {
  if (config.LocalMirror) return localMirror(config);
  const ports = !["x86-64", "x86"].includes(config.Architecture);
  const suffix = ports ? "/ubuntu-ports" : "/ubuntu";
  let mirror = stripSlash(config.Mirror ?? (ports ? "http://ports.ubuntu.com" : "http://archive.ubuntu.com"));
  if (!mirror.endsWith("/ubuntu") && !mirror.endsWith("/ubuntu-ports")) mirror += suffix;
  const security = config.Mirror
    ? mirror
    : ports
      ? "http://ports.ubuntu.com/ubuntu-ports"
      : "http://security.ubuntu.com/ubuntu";
  const r = config.Release;
  return [
    repo("main", mirror, r, config, UBUNTU_KEYRING),
    repo("updates", mirror, `${r}-updates`, config, UBUNTU_KEYRING),
    repo("security", security, `${r}-security`, config, UBUNTU_KEYRING),
  ];
}

export function kaliRepositories(config: DistroConfig): Repository[] {
  if (config.LocalMirror) return localMirror(config);
  const mirror = stripSlash(config.Mirror ?? "http://http.kali.org/kali");
  return [repo("main", mirror, config.Release, config, KALI_KEYRING)];
}

interface AptDistributionSpec {
  name: DistributionName;
  prettyName: string;
  defaultRelease: string;
  defaultMirror(arch: string): string;
  flavour: AptFlavour;
  keyring: string;
}

function aptDistribution(spec: AptDistributionSpec): Distribution {
  const f = spec.flavour;
  return {
    name: spec.name,
    prettyName: spec.prettyName,
    packageManager: "apt",
    packageType: "deb",
    defaultRelease: () => spec.defaultRelease,
    filesystem: () => "ext4",
    architecture: debianArchitecture,
    defaultMirror: spec.defaultMirror,
    repositories: (config) => f.repositories(config),
    keyrings: (config) => [...new Set(f.repositories(config).flatMap((r) => r.signedBy))],
    syncMetadata: (ctx) => aptSyncMetadata(ctx, f),
    bootstrap: (ctx, root, options) =>
      withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () => aptBootstrap(ctx, f, root, options)),
    async install(ctx: PackageManagerContext, root: string, packages: string[], options) {
      await withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () =>
        aptInstall(ctx, f, root, packages, options),
      );
      await aptConfigureImageRepositories(root, ctx.config, f);
    },
    remove: (ctx, root, packages) =>
      withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () => aptRemove(ctx, f, root, packages)),
    listInstalled: dpkgListInstalled,
    cleanMetadata: aptCleanMetadata,
    createLocalRepository: aptCreateLocalRepository,
    scriptSupport: (ctx) => aptScriptSupport(ctx, f),
  };
}

export const debian: Distribution = aptDistribution({
  name: "debian",
  prettyName: "Debian",
  defaultRelease: "testing",
  defaultMirror: () => "http://deb.debian.org/debian",
  flavour: { repositories: debianRepositories, keyringPackageHint: "debian-archive-keyring" },
  keyring: DEBIAN_KEYRING,
});

export const ubuntu: Distribution = aptDistribution({
  name: "ubuntu",
  prettyName: "Ubuntu",
  defaultRelease: "noble",
  defaultMirror: (arch) =>
    ["x86-64", "x86"].includes(arch) ? "http://archive.ubuntu.com" : "http://ports.ubuntu.com",
  flavour: { repositories: ubuntuRepositories, keyringPackageHint: "ubuntu-keyring" },
  keyring: UBUNTU_KEYRING,
});

export const kali: Distribution = aptDistribution({
  name: "kali",
  prettyName: "Kali Linux",
  defaultRelease: "kali-rolling",
  defaultMirror: () => "http://http.kali.org/kali",
  flavour: { repositories: kaliRepositories, keyringPackageHint: "kali-archive-keyring" },
  keyring: KALI_KEYRING,
});
