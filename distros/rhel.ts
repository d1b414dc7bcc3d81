// Red Hat Enterprise Linux: dnf, Red Hat's CDN with the machine's entitlement (certificates from the host
// or a sandbox tree), baseos, appstream and codeready-builder, EPEL.
import {
  disabled,
  epelRepositories,
  joinMirror,
  majorRelease,
  repo,
  rhelFamily,
  rpmKey,
} from "./rhel-family.js";
import { DistributionError, type DistroConfig, type RepositoryLookup, type RpmRepository } from "./types.js";

export function redhatKeys(config: DistroConfig, lookup: RepositoryLookup): string[] {
  return [
    rpmKey(lookup, config, `RPM-GPG-KEY-redhat${majorRelease(config.Release)}-release`, {
      fallback: "https://access.redhat.com/security/data/fd431d51.txt",
    })!,
  ];
}

/** The CDN's CA and the entitlement certificate and key (not needed with Mirror=). */
function entitlement(config: DistroConfig, lookup: RepositoryLookup) {
  if (config.Mirror) return {};
  const sslcacert = lookup.file("/etc/rhsm/ca", (n) => n === "redhat-uep.pem");
  if (!sslcacert)
    throw new DistributionError("redhat-uep.pem certificate not found in host system or sandbox tree");
  const sslclientkey = lookup.file("/etc/pki/entitlement", (n) => n.endsWith("-key.pem"));
  if (!sslclientkey) throw new DistributionError("Entitlement key not found in host system or sandbox tree");
  const sslclientcert = lookup.file("/etc/pki/entitlement", (n) => n.endsWith(".pem") && !n.includes("key"));
  if (!sslclientcert)
    throw new DistributionError("Entitlement certificate not found in host system or sandbox tree");
  return { sslcacert, sslclientcert, sslclientkey };
}

function repositories(config: DistroConfig, lookup: RepositoryLookup, gpg: string[]): RpmRepository[] {
  const variant = (name: string): RpmRepository[] => {
    if (config.LocalMirror) return [repo(name, `baseurl=${config.LocalMirror}`, gpg)];
    const mirror = config.Mirror ?? "https://cdn.redhat.com/content/dist/";
    const ssl = entitlement(config, lookup);
    const v = config.Release;
    const base = joinMirror(mirror, `rhel${majorRelease(v)}/${v}/$basearch/${name}`);
    return [
      { ...repo(`rhel-${v}-${name}-rpms`, `baseurl=${base}/os`, gpg), ...ssl },
      { ...repo(`rhel-${v}-${name}-debug-rpms`, `baseurl=${base}/debug`, gpg, disabled), ...ssl },
      { ...repo(`rhel-${v}-${name}-source`, `baseurl=${base}/source`, gpg, disabled), ...ssl },
    ];
  };
  return [
    ...["baseos", "appstream", "codeready-builder"].flatMap(variant),
    ...epelRepositories(config, lookup),
  ];
}

export const rhel = rhelFamily({ name: "rhel", prettyName: "RHEL", keys: redhatKeys, repositories });
