// Fedora Linux: dnf, the metalinks of mirrors.fedoraproject.org (or a mirror's linux/releases and
// linux/updates trees), keys from distribution-gpg-keys or /etc/pki/rpm-gpg; the base system is
// `basesystem`.
import { disabled, joinMirror, pickArchitectures, repo, rpmKey } from "./rpmrepos.js";
import {
  DistributionError,
  type DistroConfig,
  type DnfDistribution,
  type RepositoryLookup,
  type RpmRepository,
} from "./types.js";

const KEY_VERSION = /RPM-GPG-KEY-fedora-(\d+)-(primary|secondary)/;

/** The release's primary and secondary keys (for rawhide also the next release's primary key, which
 * signs rawhide around branching); with RepositoryKeyFetch= and no local key, Fedora's key bundle. */
export function fedoraKeys(config: DistroConfig, lookup: RepositoryLookup): string[] {
  const release = config.Release;
  const primary = rpmKey(lookup, config, `RPM-GPG-KEY-fedora-${release}-primary`, { required: false });
  const secondary = rpmKey(lookup, config, `RPM-GPG-KEY-fedora-${release}-secondary`, { required: false });
  const out: string[] = [];
  if (primary) {
    const version = release === "rawhide" ? KEY_VERSION.exec(primary.split("/").pop() ?? "") : null;
    if (version) {
      const next = lookup.key(`RPM-GPG-KEY-fedora-${Number(version[1]) + 1}-primary`);
      if (next) out.push(next);
    }
    out.push(primary);
  }
  if (secondary) out.push(secondary);
  if (out.length > 0) return out;
  if (!config.RepositoryKeyFetch)
    throw new DistributionError(
      "Fedora GPG keys not found in /usr/share/distribution-gpg-keys or /etc/pki/rpm-gpg; install " +
        "distribution-gpg-keys, put the keys in a sandbox tree (SandboxTrees=) or set RepositoryKeyFetch=yes",
    );
  return release === "rawhide"
    ? [
        "https://raw.githubusercontent.com/rpm-software-management/distribution-gpg-keys/main/keys/fedora/RPM-GPG-KEY-fedora-rawhide-primary",
      ]
    : ["https://fedoraproject.org/fedora.gpg"];
}

const METALINK = "metalink=https://mirrors.fedoraproject.org/metalink?arch=$basearch";

function repositories(config: DistroConfig, lookup: RepositoryLookup): RpmRepository[] {
  const gpg = fedoraKeys(config, lookup);
  const release = config.Release;
  if (config.LocalMirror) return [repo("fedora", `baseurl=${config.LocalMirror}`, gpg)];
  if (release === "eln") {
    const mirror =
      config.Mirror ?? "https://odcs.fedoraproject.org/composes/production/latest-Fedora-ELN/compose";
    return ["Appstream", "BaseOS", "Extras", "CRB"].flatMap((name) => {
      const url = `baseurl=${joinMirror(mirror, name)}`;
      const id = name.toLowerCase();
      return [
        repo(id, `${url}/$basearch/os`, gpg),
        repo(id, `${url}/$basearch/debug/tree`, gpg, disabled),
        repo(id, `${url}/source/tree`, gpg, disabled),
      ];
    });
  }
  const rawhide = release === "rawhide";
  if (config.Mirror) {
    const m = config.Mirror;
    const everything = `baseurl=${joinMirror(m, `linux/${rawhide ? "development" : "releases"}/$releasever/Everything`)}`;
    const out = [
      repo("fedora", `${everything}/$basearch/os`, gpg),
      repo("fedora-debuginfo", `${everything}/$basearch/debug/tree`, gpg, disabled),
      repo("fedora-source", `${everything}/source/tree`, gpg, disabled),
    ];
    if (rawhide) return out;
    for (const [prefix, path, on] of [
      ["updates", "linux/updates/$releasever/Everything", true],
      ["updates-testing", "linux/updates/testing/$releasever/Everything", false],
    ] as const) {
      const url = `baseurl=${joinMirror(m, path)}`;
      out.push(
        repo(prefix, `${url}/$basearch`, gpg, { enabled: on }),
        repo(`${prefix}-debuginfo`, `${url}/$basearch/debug`, gpg, disabled),
        repo(`${prefix}-source`, `${url}/source/tree`, gpg, disabled),
      );
    }
    return out;
  }
  const out = [
    repo("fedora", `${METALINK}&repo=fedora-$releasever`, gpg),
    repo("fedora-debuginfo", `${METALINK}&repo=fedora-debug-$releasever`, gpg, disabled),
    repo("fedora-source", `${METALINK}&repo=fedora-source-$releasever`, gpg, disabled),
  ];
  if (rawhide) return out;
  for (const [id, name, on] of [
    ["updates", "updates-released", true],
    ["updates-testing", "updates-testing", false],
  ] as const) {
    out.push(
      repo(id, `${METALINK}&repo=${name}-f$releasever`, gpg, { enabled: on }),
      repo(`${id}-debuginfo`, `${METALINK}&repo=${name}-debug-f$releasever`, gpg, disabled),
      repo(`${id}-source`, `${METALINK}&repo=${name}-source-f$releasever`, gpg, disabled),
    );
  }
  return out;
}

export const fedora: DnfDistribution = {
  name: "fedora",
  prettyName: "Fedora Linux",
  packageManager: "dnf",
  defaultRelease: "rawhide",
  filesystem: "btrfs",
  toolsTreeDistribution: "fedora",
  architectures: pickArchitectures("arm64", "mips64-le", "mips-le", "ppc64-le", "riscv64", "s390x", "x86-64"),
  repositories,
  bootstrapPackages: ["basesystem"],
  filelists: false,
  rpmDbPath: () => "/usr/lib/sysimage/rpm",
  // rawhide moves fast: its metadata is considered stale after 6 hours.
  metadataExpire: (config) => (config.Release === "rawhide" ? "6h" : undefined),
};
