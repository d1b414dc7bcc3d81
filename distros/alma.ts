// AlmaLinux: dnf, mirrors.almalinux.org mirror lists (or a mirror's $releasever/<repo> trees), EPEL.
import { epelRepositories, joinMirror, majorRelease, repo, rhelFamily, rpmKey } from "./rhel-family.js";

export const alma = rhelFamily({
  name: "alma",
  prettyName: "AlmaLinux",
  keys: (config, lookup) => {
    const major = majorRelease(config.Release);
    return [
      rpmKey(lookup, config, `RPM-GPG-KEY-AlmaLinux-${major}`, {
        fallback: `https://repo.almalinux.org/almalinux/RPM-GPG-KEY-AlmaLinux-${major}`,
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
          : `mirrorlist=https://mirrors.almalinux.org/mirrorlist/$releasever/${name.toLowerCase()}`,
        gpg,
      );
    if (config.LocalMirror) return [one("AppStream")];
    return [...["BaseOS", "AppStream", "extras", "CRB"].map(one), ...epelRepositories(config, lookup)];
  },
});
