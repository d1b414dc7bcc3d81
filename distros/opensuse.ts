// openSUSE: zypper, download.opensuse.org's Tumbleweed (or a dated snapshot under history/) and Leap
// trees, oss enabled and non-oss optional; rpm's database is ndb; the base system is `filesystem`.
import { disabled, joinMirror, pickArchitectures, repo, rpmKey } from "./rpmrepos.js";
import {
  DistributionError,
  type DistroConfig,
  type RepositoryLookup,
  type RpmRepository,
  type ZypperDistribution,
} from "./types.js";

function tumbleweed(config: DistroConfig, lookup: RepositoryLookup, mirror: string): RpmRepository[] {
  const release = config.Release;
  const gpg = ["RPM-GPG-KEY-openSUSE-Tumbleweed", "RPM-GPG-KEY-openSUSE"]
    .map((name) => rpmKey(lookup, config, name, { required: false }))
    .filter((k): k is string => k !== undefined);
  if (gpg.length === 0 && !config.RepositoryKeyFetch)
    throw new DistributionError(
      "openSUSE GPG keys not found in /usr/share/distribution-gpg-keys or /etc/pki/rpm-gpg; install " +
        "distribution-gpg-keys, put the keys in a sandbox tree (SandboxTrees=) or set RepositoryKeyFetch=yes",
    );
  let subdir: string;
  if (release === "tumbleweed")
    subdir = config.Architecture === "x86-64" ? "" : `ports/${opensuse.architectures[config.Architecture]}`;
  else {
    if (config.Architecture !== "x86-64")
      throw new DistributionError("Old snapshots are only supported for x86-64 on openSUSE");
    subdir = `history/${release}`;
  }
  const out: RpmRepository[] = [];
  for (const name of ["oss", "non-oss"]) {
    out.push(
      repo(name, `baseurl=${joinMirror(mirror, `${subdir}/tumbleweed/repo/${name}`)}`, gpg, {
        enabled: name === "oss",
      }),
    );
    if (release === "tumbleweed")
      for (const kind of ["debug", "source"])
        out.push(
          repo(
            `${name}-${kind}`,
            `baseurl=${joinMirror(mirror, `${subdir}/${kind}/tumbleweed/repo/${name}`)}`,
            gpg,
            disabled,
          ),
        );
  }
  if (release === "tumbleweed")
    out.push(
      repo("oss-update", `baseurl=${joinMirror(mirror, `${subdir}/update/tumbleweed`)}`, gpg),
      repo(
        "non-oss-update",
        `baseurl=${joinMirror(mirror, `${subdir}/update/tumbleweed-non-oss`)}`,
        gpg,
        disabled,
      ),
    );
  return out;
}

function leap(config: DistroConfig, mirror: string): RpmRepository[] {
  const current = ["current", "stable", "leap"].includes(config.Release);
  if (current && config.Architecture !== "x86-64")
    throw new DistributionError(
      "openSUSE only supports current and stable releases for the x86-64 architecture (specify tumbleweed or a Leap release such as 15.6)",
    );
  const release = current ? "openSUSE-current" : `leap/${config.Release}`;
  const subdir =
    config.Architecture === "x86-64" ? "" : `ports/${opensuse.architectures[config.Architecture]}`;
  // zypper fetches the keys the repositories announce (--gpg-auto-import-keys).
  const gpg: string[] = [];
  const out: RpmRepository[] = [];
  for (const name of ["oss", "non-oss"])
    out.push(
      repo(name, `baseurl=${joinMirror(mirror, `${subdir}/distribution/${release}/repo/${name}`)}`, gpg, {
        enabled: name === "oss",
      }),
    );
  for (const kind of ["debug", "source"])
    for (const name of ["oss", "non-oss"])
      out.push(
        repo(
          `${name}-${kind}`,
          `baseurl=${joinMirror(mirror, `${subdir}/${kind}/distribution/${release}/repo/${name}`)}`,
          gpg,
          disabled,
        ),
      );
  if (current)
    out.push(
      repo("oss-update", `baseurl=${joinMirror(mirror, `${subdir}/update/openSUSE-current`)}`, gpg),
      repo(
        "non-oss-update",
        `baseurl=${joinMirror(mirror, `${subdir}/update/openSUSE-non-oss-current`)}`,
        gpg,
        disabled,
      ),
    );
  else
    for (const name of ["oss", "non-oss"])
      out.push(
        repo(`${name}-update`, `baseurl=${joinMirror(mirror, `${subdir}/update/${release}/${name}`)}`, gpg, {
          enabled: name === "oss",
        }),
      );
  return out;
}

export const opensuse: ZypperDistribution = {
  name: "opensuse",
  prettyName: "openSUSE",
  packageManager: "zypper",
  defaultRelease: "tumbleweed",
  filesystem: "btrfs",
  toolsTreeDistribution: "opensuse",
  architectures: pickArchitectures("x86-64", "arm64"),
  repositories(config, lookup) {
    if (config.LocalMirror) return [repo("local-mirror", `baseurl=${config.LocalMirror}`, [])];
    const mirror = config.Mirror ?? "https://download.opensuse.org";
    return config.Release === "tumbleweed" || /^\d+$/.test(config.Release)
      ? tumbleweed(config, lookup, mirror)
      : leap(config, mirror);
  },
  bootstrapPackages: ["filesystem"],
  rpmDbPath: () => "/usr/lib/sysimage/rpm",
  rpmDbBackend: "ndb",
  sha1KeyPolicy: () => true,
};
