// Ubuntu: apt, archive.ubuntu.com (x86) or ports.ubuntu.com (other architectures), -updates and
// -security suites, signed with ubuntu-keyring.

import { debRepository, localDebMirror, stripSlash } from "./deb.js";
import { DEBIAN_ARCHITECTURES } from "./debian.js";
import type { AptDistribution, DebRepository, DistroConfig } from "./types.js";

export const UBUNTU_KEYRING = "/usr/share/keyrings/ubuntu-archive-keyring.gpg";

function repositories(config: DistroConfig): DebRepository[] {
  if (config.LocalMirror) return localDebMirror(config);
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
    debRepository("main", mirror, r, config, UBUNTU_KEYRING),
    debRepository("updates", mirror, `${r}-updates`, config, UBUNTU_KEYRING),
    debRepository("security", security, `${r}-security`, config, UBUNTU_KEYRING),
  ];
}

export const ubuntu: AptDistribution = {
  name: "ubuntu",
  prettyName: "Ubuntu",
  packageManager: "apt",
  defaultRelease: "noble",
  filesystem: "ext4",
  toolsTreeDistribution: "debian",
  architectures: DEBIAN_ARCHITECTURES,
  keyringPackage: "ubuntu-keyring",
  repositories,
};
