// Arch Linux: pacman, geo.mirror.pkgbuild.com (Arch Linux ARM's mirror for arm), core and extra plus the
// testing, debug and multilib repositories named in Repositories=; the base system is `filesystem`.
import type { DistroConfig, PacmanDistribution, PacmanRepository } from "./types.js";

/** Optional repositories, in the order pacman must see them (testing before the stable ones). */
const OPTIONAL = [
  "core-testing",
  "core-testing-debug",
  "extra-testing",
  "extra-testing-debug",
  "core-debug",
  "extra-debug",
  "multilib-testing",
  "multilib",
];

function repositories(config: DistroConfig): PacmanRepository[] {
  if (config.LocalMirror) return [{ id: "core", url: config.LocalMirror }];
  const arm = config.Architecture === "arm" || config.Architecture === "arm64";
  const url = arm
    ? `${config.Mirror ?? "http://mirror.archlinuxarm.org"}/$arch/$repo`
    : `${config.Mirror ?? "https://geo.mirror.pkgbuild.com"}/$repo/os/$arch`;
  const ids = [...OPTIONAL.filter((id) => config.Repositories.includes(id)), "core", "extra"];
  if (arm) ids.push("alarm");
  return ids.map((id) => ({ id, url }));
}

export const arch: PacmanDistribution = {
  name: "arch",
  prettyName: "Arch Linux",
  packageManager: "pacman",
  defaultRelease: "rolling",
  filesystem: "ext4",
  toolsTreeDistribution: "arch",
  architectures: { "x86-64": "x86_64", arm64: "aarch64", arm: "armv7h" },
  repositories,
  bootstrapPackages: ["filesystem"],
  keyringPackage: "archlinux-keyring",
};
