// Mageia: dnf, www.mageia.org mirror lists (or a mirror's distrib/$releasever tree), core release and
// updates; the base system is `filesystem`.
import { joinMirror, pickArchitectures, repo, rpmKey } from "./rpmrepos.js";
import type { DnfDistribution } from "./types.js";

export const mageia: DnfDistribution = {
  name: "mageia",
  prettyName: "Mageia",
  packageManager: "dnf",
  defaultRelease: "cauldron",
  filesystem: "ext4",
  toolsTreeDistribution: "mageia",
  architectures: pickArchitectures("x86-64", "arm64"),
  repositories(config, lookup) {
    const gpg = [
      rpmKey(lookup, config, "RPM-GPG-KEY-Mageia", {
        fallback:
          "https://mirrors.kernel.org/mageia/distrib/$releasever/$basearch/media/core/release/media_info/pubkey",
      })!,
    ];
    if (config.LocalMirror) return [repo("core-release", `baseurl=${config.LocalMirror}`, gpg)];
    if (config.Mirror) {
      const url = `baseurl=${joinMirror(config.Mirror, "distrib/$releasever/$basearch/media/core/")}`;
      return [repo("core-release", `${url}/release`, gpg), repo("core-updates", `${url}/updates/`, gpg)];
    }
    const url =
      "mirrorlist=https://www.mageia.org/mirrorlist/?release=$releasever&arch=$basearch&section=core";
    return [
      repo("core-release", `${url}&repo=release`, gpg),
      repo("core-updates", `${url}&repo=updates`, gpg),
    ];
  },
  bootstrapPackages: ["filesystem"],
  filelists: false,
  rpmDbPath: () => "/usr/lib/sysimage/rpm",
};
