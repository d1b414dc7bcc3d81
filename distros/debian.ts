// Debian: apt, the archive at deb.debian.org with -updates and -security suites (except for the rolling
// releases), signed with debian-archive-keyring.
import { debRepository, localDebMirror, stripSlash } from "./deb.js";
import type { AptDistribution, DebRepository, DistroConfig } from "./types.js";

export const DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

/** mkosi architecture → Debian architecture (shared by Ubuntu and Kali). */
export const DEBIAN_ARCHITECTURES = {
  "x86-64": "amd64",
  x86: "i386",
  arm64: "arm64",
  arm: "armhf",
  alpha: "alpha",
  ia64: "ia64",
  loongarch64: "loong64",
  "mips64-le": "mips64el",
  "mips-le": "mipsel",
  parisc: "hppa",
  ppc: "powerpc",
  ppc64: "ppc64",
  "ppc64-le": "ppc64el",
  riscv64: "riscv64",
  s390: "s390",
  s390x: "s390x",
} as const;

/** Releases without -updates and -security suites. */
const ROLLING = new Set(["sid", "unstable", "experimental", "rc-buggy"]);

function repositories(config: DistroConfig): DebRepository[] {
  if (config.LocalMirror) return localDebMirror(config);
  const mirror = stripSlash(config.Mirror ?? "http://deb.debian.org/debian");
  const release = config.Release;
  const repos = [debRepository("main", mirror, release, config, DEBIAN_KEYRING)];
  if (!ROLLING.has(release)) {
    repos.push(debRepository("updates", mirror, `${release}-updates`, config, DEBIAN_KEYRING));
    // The security archive lives next to the main archive on deb.debian.org-style mirrors.
    const security = mirror.endsWith("/debian")
      ? `${mirror}-security`
      : "http://security.debian.org/debian-security";
    repos.push(debRepository("security", security, `${release}-security`, config, DEBIAN_KEYRING));
  }
  return repos;
}

export const debian: AptDistribution = {
  name: "debian",
  prettyName: "Debian",
  packageManager: "apt",
  defaultRelease: "testing",
  filesystem: "ext4",
  toolsTreeDistribution: "debian",
  architectures: DEBIAN_ARCHITECTURES,
  keyringPackage: "debian-archive-keyring",
  repositories,
  // base-files in sid carries the next release's codename.
  osReleaseCodename: (release) => (release === "sid" || release === "unstable" ? "sid" : undefined),
};
