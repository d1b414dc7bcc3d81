// Rocky Linux: dnf, mirrors.rockylinux.org mirror lists (or a mirror's $releasever/<repo> trees), EPEL.
import { epelRepositories, joinMirror, majorRelease, repo, rhelFamily, rpmKey } from "./rhel-family.js";

export const rocky = rhelFamily({
  name: "rocky",
  prettyName: "Rocky Linux",
  keys: (config, lookup) => {
    const major = majorRelease(config.Release);
    return [
      rpmKey(lookup, config, `RPM-GPG-KEY-Rocky-${major}`, {
        fallback: `https://download.rockylinux.org/pub/rocky/RPM-GPG-KEY-Rocky-${major}`,
      })!,
    ];
  },
  repositories(config, lookup, gpg) {
    // LocalMirror= is not used here: like the reference, the mirror (or the mirror list) decides.
    const one = (name: string) =>
      repo(
        name,
        config.Mirror
          ? `baseurl=${joinMirror(config.Mirror, `$releasever/${name}/$basearch/os`)}`
          : `mirrorlist=https://mirrors.rockylinux.org/mirrorlist?arch=$basearch&repo=${name}-$releasever`,
        gpg,
      );
    if (config.LocalMirror) return [one("AppStream")];
    return [...["BaseOS", "AppStream", "extras", "CRB"].map(one), ...epelRepositories(config, lookup)];
  },
});
