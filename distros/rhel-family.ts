// What CentOS Stream and the distributions built from the same sources (RHEL, RHEL UBI, AlmaLinux, Rocky
// Linux) share: dnf, releases 9 and later, the $stream variable, EPEL as optional repositories (enabled
// with Repositories=), xfs, and Fedora as the default tools tree. Each distribution's module says where
// its BaseOS/AppStream/... repositories live and which key signs them.
import {
  compareVersions,
  disabled,
  joinMirror,
  majorRelease,
  pickArchitectures,
  repo,
  rpmKey,
} from "./rpmrepos.js";
import {
  DistributionError,
  type DistributionName,
  type DistroConfig,
  type DnfDistribution,
  type RepositoryLookup,
  type RpmRepository,
} from "./types.js";

export interface RhelFamilySpec {
  name: DistributionName;
  prettyName: string;
  /** The keys of the distribution's own repositories. */
  keys(config: DistroConfig, lookup: RepositoryLookup): string[];
  /** The distribution's repositories (BaseOS, AppStream, ... and their debug and source variants). */
  repositories(config: DistroConfig, lookup: RepositoryLookup, gpg: string[]): RpmRepository[];
}

const is = (release: string, version: number) => compareVersions(release, String(version));

export function epelRepositories(config: DistroConfig, lookup: RepositoryLookup): RpmRepository[] {
  const major = majorRelease(config.Release);
  // From EPEL 10 on, every minor release of RHEL has its EPEL minor release.
  const release = is(config.Release, 10) >= 0 ? config.Release : major;
  const gpg = [
    rpmKey(lookup, config, `RPM-GPG-KEY-EPEL-${major}`, {
      fallback: `https://dl.fedoraproject.org/pub/epel/RPM-GPG-KEY-EPEL-${major}`,
    })!,
  ];
  if (config.LocalMirror) return [];
  // epel-next ended with EPEL 10.
  const next = is(config.Release, 10) < 0;
  if (config.Mirror) {
    // EPEL is assumed next to the mirror's directory, unless $EPEL_MIRROR (Environment=) says where.
    const base = config.Environment?.EPEL_MIRROR ?? joinMirror(config.Mirror, "../fedora");
    const dirs: [string, string][] = [
      ["epel", "epel"],
      ["epel-testing", "epel/testing"],
      ...(next
        ? ([
            ["epel-next", "epel/next"],
            ["epel-next-testing", "epel/testing/next"],
          ] as [string, string][])
        : []),
    ];
    return dirs.flatMap(([id, dir]) => {
      const url = `baseurl=${base}/${dir}/${release}/Everything`;
      return [
        repo(id, `${url}/$basearch`, gpg, disabled),
        repo(`${id}-debuginfo`, `${url}/$basearch/debug`, gpg, disabled),
        repo(`${id}-source`, `${url}/source/tree`, gpg, disabled),
      ];
    });
  }
  const metalink = "metalink=https://mirrors.fedoraproject.org/metalink?arch=$basearch";
  const out = (next ? ["epel", "epel-next"] : ["epel"]).flatMap((id) => [
    repo(id, `${metalink}&repo=${id}-${release}`, gpg, disabled),
    repo(`${id}-debuginfo`, `${metalink}&repo=${id}-debug-${release}`, gpg, disabled),
    repo(`${id}-source`, `${metalink}&repo=${id}-source-${release}`, gpg, disabled),
  ]);
  out.push(
    repo("epel-testing", `${metalink}&repo=testing-epel${release}`, gpg, disabled),
    repo("epel-testing-debuginfo", `${metalink}&repo=testing-debug-epel${release}`, gpg, disabled),
    repo("epel-testing-source", `${metalink}&repo=testing-source-epel${release}`, gpg, disabled),
  );
  if (next)
    out.push(
      repo("epel-next-testing", `${metalink}&repo=epel-testing-next-${release}`, gpg, disabled),
      repo(
        "epel-next-testing-debuginfo",
        `${metalink}&repo=epel-testing-next-debug-${release}`,
        gpg,
        disabled,
      ),
      repo("epel-next-testing-source", `${metalink}&repo=epel-testing-next-source-${release}`, gpg, disabled),
    );
  return out;
}

export function rhelFamily(spec: RhelFamilySpec): DnfDistribution {
  return {
    name: spec.name,
    prettyName: spec.prettyName,
    packageManager: "dnf",
    defaultRelease: "10",
    filesystem: "xfs",
    toolsTreeDistribution: "fedora",
    architectures: pickArchitectures("x86-64", "ppc64-le", "s390x", "arm64"),
    repositories: (config, lookup) => spec.repositories(config, lookup, spec.keys(config, lookup)),
    bootstrapPackages: ["basesystem"],
    // Release 10 moved the database; so did the Hyperscale SIG's rpm for 9.
    rpmDbPath: (config) =>
      is(config.Release, 9) > 0 || config.Repositories.includes("hyperscale-packages-experimental")
        ? "/usr/lib/sysimage/rpm"
        : "/var/lib/rpm",
    dnfVars: (config) => ({ stream: `${majorRelease(config.Release)}-stream` }),
    // Release 9's keys have SHA-1 self-signatures, which rpm-sequoia rejects by default.
    sha1KeyPolicy: (config) => config.Release === "9",
    checkRelease(config) {
      if (is(config.Release, 8) <= 0)
        throw new DistributionError(`${spec.prettyName} Stream 8 or earlier variants are not supported`);
    },
  };
}

export { disabled, is as compareRelease, joinMirror, majorRelease, repo, rpmKey };
