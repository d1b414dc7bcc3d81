// Azure Linux: dnf, packages.microsoft.com's prod and preview trees; the base system is `filesystem` and
// `azurelinux-release`; rpm's database in /var/lib/rpm.
import { disabled, joinMirror, pickArchitectures, repo, rpmKey } from "./rpmrepos.js";
import type { DnfDistribution, RpmRepository } from "./types.js";

export const azure: DnfDistribution = {
  name: "azure",
  prettyName: "Azure Linux",
  packageManager: "dnf",
  defaultRelease: "3.0",
  filesystem: "ext4",
  toolsTreeDistribution: "azure",
  architectures: pickArchitectures("arm64", "x86-64"),
  repositories(config, lookup) {
    const gpg = [
      rpmKey(lookup, config, "MICROSOFT-RPM-GPG-KEY", {
        fallback:
          "https://raw.githubusercontent.com/rpm-software-management/distribution-gpg-keys/main/keys/azure-linux/MICROSOFT-RPM-GPG-KEY",
      })!,
    ];
    if (config.LocalMirror) return [repo("base", `baseurl=${config.LocalMirror}`, gpg)];
    const url = joinMirror(config.Mirror ?? "https://packages.microsoft.com/azurelinux", config.Release);
    const out: RpmRepository[] = [];
    for (const name of ["base", "extended", "ms-oss", "ms-non-oss", "cloud-native", "nvidia"]) {
      out.push(repo(name, `baseurl=${url}/prod/${name}/$basearch`, gpg));
      const preview = name === "nvidia" ? "NVIDIA" : name;
      out.push(repo(`${preview}-preview`, `baseurl=${url}/preview/${preview}/$basearch`, gpg, disabled));
    }
    for (const name of ["base", "cloud-native", "extended"])
      out.push(
        repo(`${name}-debuginfo`, `baseurl=${url}/prod/${name}/debuginfo/$basearch`, gpg, disabled),
        repo(
          `${name}-preview-debuginfo`,
          `baseurl=${url}/preview/${name}/debuginfo/$basearch`,
          gpg,
          disabled,
        ),
      );
    // The preview source repositories share their ids with the prod ones, as in the reference.
    for (const name of ["base", "cloud-native", "extended", "ms-oss"])
      out.push(
        repo(`${name}-source`, `baseurl=${url}/prod/${name}/srpms`, gpg, disabled),
        repo(`${name}-source`, `baseurl=${url}/preview/${name}/srpms`, gpg, disabled),
      );
    return out;
  },
  bootstrapPackages: ["filesystem", "azurelinux-release"],
  filelists: false,
  rpmDbPath: () => "/var/lib/rpm",
};
