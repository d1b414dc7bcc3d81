// Kali Linux: apt, http.kali.org, signed with kali-archive-keyring.

import { debRepository, localDebMirror, stripSlash } from "./deb.js";
import { DEBIAN_ARCHITECTURES } from "./debian.js";
import type { AptDistribution, DebRepository, DistroConfig } from "./types.js";

export const KALI_KEYRING = "/usr/share/keyrings/kali-archive-keyring.gpg";

function repositories(config: DistroConfig): DebRepository[] {
  if (config.LocalMirror) return localDebMirror(config);
  const mirror = stripSlash(config.Mirror ?? "http://http.kali.org/kali");
  return [debRepository("main", mirror, config.Release, config, KALI_KEYRING)];
}

export const kali: AptDistribution = {
  name: "kali",
  prettyName: "Kali Linux",
  packageManager: "apt",
  defaultRelease: "kali-rolling",
  filesystem: "ext4",
  toolsTreeDistribution: "kali",
  architectures: DEBIAN_ARCHITECTURES,
  keyringPackage: "kali-archive-keyring",
  repositories,
};
