// OpenMandriva: dnf, mirror.openmandriva.org's $releasever/repository/$basearch/main release and updates;
// the base system is `filesystem`.
import { joinMirror, pickArchitectures, repo, rpmKey } from "./rpmrepos.js";
import type { DnfDistribution } from "./types.js";

export const openmandriva: DnfDistribution = {
  name: "openmandriva",
  prettyName: "OpenMandriva",
  packageManager: "dnf",
  defaultRelease: "cooker",
  filesystem: "ext4",
  toolsTreeDistribution: "openmandriva",
  architectures: pickArchitectures("x86-64", "arm64", "riscv64"),
  repositories(config, lookup) {
    const gpg = [
      rpmKey(lookup, config, "RPM-GPG-KEY-OpenMandriva", {
        fallback:
          "https://raw.githubusercontent.com/OpenMandrivaAssociation/openmandriva-repos/master/RPM-GPG-KEY-OpenMandriva",
      })!,
    ];
    if (config.LocalMirror) return [repo("main-release", `baseurl=${config.LocalMirror}`, gpg)];
    const mirror = config.Mirror ?? "http://mirror.openmandriva.org";
    const url = `baseurl=${joinMirror(mirror, "$releasever/repository/$basearch/main")}`;
    return [repo("main-release", `${url}/release`, gpg), repo("main-updates", `${url}/updates`, gpg)];
  },
  bootstrapPackages: ["filesystem"],
  filelists: false,
  rpmDbPath: () => "/usr/lib/sysimage/rpm",
};
