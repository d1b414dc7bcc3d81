// CentOS Stream: dnf, mirrors.centos.org metalinks (or a mirror's $stream/<repo> trees) for BaseOS,
// AppStream, extras and CRB, EPEL and the Hyperscale SIG as optional repositories.
import {
  compareRelease,
  disabled,
  epelRepositories,
  joinMirror,
  repo,
  rhelFamily,
  rpmKey,
} from "./rhel-family.js";
import type { DistroConfig, RepositoryLookup, RpmRepository } from "./types.js";

const METALINK = "metalink=https://mirrors.centos.org/metalink";
/** SIG repositories rank before the distribution's (lower is preferred). */
const SIG_PRIORITY = 50;

function keys(config: DistroConfig, lookup: RepositoryLookup): string[] {
  const nine = compareRelease(config.Release, 9) === 0;
  // /etc/pki/rpm-gpg's name first, then distribution-gpg-keys' name for the same key.
  const pki = rpmKey(
    lookup,
    config,
    nine ? "RPM-GPG-KEY-centosofficial" : "RPM-GPG-KEY-centosofficial-SHA256",
    {
      required: false,
    },
  );
  const name = nine ? "RPM-GPG-KEY-CentOS-Official" : "RPM-GPG-KEY-CentOS-Official-SHA256";
  const shared = rpmKey(lookup, config, name, {
    fallback: `https://www.centos.org/keys/${name}`,
    required: pki !== undefined,
  });
  const extras = rpmKey(lookup, config, "RPM-GPG-KEY-CentOS-SIG-Extras", {
    fallback: "https://www.centos.org/keys/RPM-GPG-KEY-CentOS-SIG-Extras",
  });
  return [pki, shared, extras].filter((k): k is string => k !== undefined);
}

function variant(config: DistroConfig, name: string, gpg: string[]): RpmRepository[] {
  const id = name.toLowerCase();
  if (config.LocalMirror) return [repo(name, `baseurl=${config.LocalMirror}`, gpg)];
  if (config.Mirror) {
    const m = config.Mirror;
    if (name === "extras")
      return [
        repo(id, `baseurl=${joinMirror(m, `SIGs/$stream/${name}/$basearch/extras-common`)}`, gpg),
        repo(
          `${id}-source`,
          `baseurl=${joinMirror(m, `SIGs/$stream/${name}/source/extras-common`)}`,
          gpg,
          disabled,
        ),
      ];
    return [
      repo(id, `baseurl=${joinMirror(m, `$stream/${name}/$basearch/os`)}`, gpg),
      repo(
        `${id}-debuginfo`,
        `baseurl=${joinMirror(m, `$stream/${name}/$basearch/debug/tree`)}`,
        gpg,
        disabled,
      ),
      repo(`${id}-source`, `baseurl=${joinMirror(m, `$stream/${name}/source/tree`)}`, gpg, disabled),
    ];
  }
  if (name === "extras")
    return [
      repo(id, `${METALINK}?arch=$basearch&repo=centos-extras-sig-extras-common-$stream`, gpg),
      repo(
        `${id}-source`,
        `${METALINK}?arch=source&repo=centos-extras-sig-extras-common-source-$stream`,
        gpg,
        disabled,
      ),
    ];
  return [
    repo(id, `${METALINK}?arch=$basearch&repo=centos-${id}-$stream`, gpg),
    repo(`${id}-debuginfo`, `${METALINK}?arch=$basearch&repo=centos-${id}-debug-$stream`, gpg, disabled),
    repo(`${id}-source`, `${METALINK}?arch=source&repo=centos-${id}-source-$stream`, gpg, disabled),
  ];
}

const HYPERSCALE = ["main", "experimental", "facebook", "hotfixes", "spin", "intel", "kernel"].map(
  (c) => `packages-${c}`,
);

function sigRepositories(config: DistroConfig, lookup: RepositoryLookup): RpmRepository[] {
  if (config.LocalMirror) return [];
  const sig = "hyperscale";
  const gpg = [
    rpmKey(lookup, config, "RPM-GPG-KEY-CentOS-SIG-HyperScale", {
      fallback: "https://www.centos.org/keys/RPM-GPG-KEY-CentOS-SIG-HyperScale",
    })!,
  ];
  const o = { enabled: false, priority: SIG_PRIORITY };
  return HYPERSCALE.flatMap((c) => {
    const id = `${sig}-${c}`;
    if (config.Mirror) {
      const m = config.Mirror;
      return [
        repo(id, `baseurl=${joinMirror(m, `SIGs/$stream/${sig}/$basearch/${c}`)}`, gpg, o),
        repo(
          `${id}-debuginfo`,
          `baseurl=${joinMirror(m, `SIGs/$stream/${sig}/$basearch/${c}/debug`)}`,
          gpg,
          o,
        ),
        repo(`${id}-source`, `baseurl=${joinMirror(m, `SIGs/$stream/${sig}/source/${c}`)}`, gpg, o),
      ];
    }
    const testing = `baseurl=https://buildlogs.centos.org/centos/$stream/${sig}/$basearch/${c}`;
    return [
      repo(id, `${METALINK}?arch=$basearch&repo=centos-${sig}-sig-${c}-$stream`, gpg, o),
      repo(`${id}-debuginfo`, `${METALINK}?arch=$basearch&repo=centos-${sig}-sig-${c}-debug-$stream`, gpg, o),
      repo(`${id}-source`, `${METALINK}?arch=source&repo=centos-${sig}-sig-${c}-source-$stream`, gpg, o),
      repo(`${id}-testing`, testing, gpg, o),
      repo(`${id}-testing-debuginfo`, testing, gpg, o),
    ];
  });
}

export const centos = rhelFamily({
  name: "centos",
  prettyName: "CentOS",
  keys,
  repositories(config, lookup, gpg) {
    // A local mirror is one flat repository.
    if (config.LocalMirror) return variant(config, "AppStream", gpg);
    return [
      ...["BaseOS", "AppStream", "extras", "CRB"].flatMap((name) => variant(config, name, gpg)),
      ...epelRepositories(config, lookup),
      ...sigRepositories(config, lookup),
    ];
  },
});
