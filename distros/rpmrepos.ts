// Building blocks of rpm repository definitions (dnf and zypper distributions): mirror URLs, keys.
import { DistributionError, type DistroConfig, type RepositoryLookup, type RpmRepository } from "./types.js";

/** Join a mirror and a path the way URL resolution does: the mirror is a directory, the path relative
 * to it ("../fedora" climbs out of it). */
export function joinMirror(mirror: string, path: string): string {
  const base = mirror.endsWith("/") ? mirror : `${mirror}/`;
  const relative = path.replace(/^\/+/, "");
  try {
    return new URL(relative, base).toString();
  } catch {
    // Not a URL with a scheme (a plain path): resolve by hand.
    return `${base}${relative}`;
  }
}

export function repo(
  id: string,
  url: string,
  gpgurls: string[],
  options: { enabled?: boolean; priority?: number } = {},
): RpmRepository {
  const m = /^(baseurl|mirrorlist|metalink)=(.*)$/.exec(url);
  if (!m) throw new Error(`internal error: repository ${id} URL ${url} does not say its kind`);
  return {
    id,
    url: { kind: m[1] as RpmRepository["url"]["kind"], value: m[2]! },
    gpgurls,
    enabled: options.enabled ?? true,
    ...(options.priority !== undefined ? { priority: options.priority } : {}),
  };
}

export const disabled = { enabled: false } as const;

export const KEY_HINT = "install distribution-gpg-keys or put the key in a sandbox tree (SandboxTrees=)";

/**
 * A key by file name: the local file when there is one; else the `fallback` URL with
 * RepositoryKeyFetch=yes; else an error when `required` (a missing optional key is left out).
 */
export function rpmKey(
  lookup: RepositoryLookup,
  config: DistroConfig,
  name: string,
  options: { fallback?: string; required?: boolean } = {},
): string | undefined {
  const local = lookup.key(name);
  if (local) return local;
  if (options.fallback && config.RepositoryKeyFetch) return options.fallback;
  if (options.required ?? true)
    throw new DistributionError(
      `${name} GPG key not found in /usr/share/distribution-gpg-keys or /etc/pki/rpm-gpg; ${KEY_HINT}` +
        `${options.fallback ? ", or set RepositoryKeyFetch=yes" : ""}`,
    );
  return undefined;
}

/** rpm architecture names (a distribution supports a subset). */
export const RPM_ARCHITECTURES = {
  "x86-64": "x86_64",
  arm64: "aarch64",
  "mips64-le": "mips64el",
  "mips-le": "mipsel",
  "ppc64-le": "ppc64le",
  riscv64: "riscv64",
  s390x: "s390x",
} as const;

export function pickArchitectures<K extends keyof typeof RPM_ARCHITECTURES>(
  ...names: K[]
): Record<K, string> {
  return Object.fromEntries(names.map((n) => [n, RPM_ARCHITECTURES[n]])) as unknown as Record<K, string>;
}

export function majorRelease(release: string): string {
  return release.split(".")[0]!;
}

/** Order two versions the way release numbers compare ("10" > "9.4" > "9"); a non-numeric part compares
 * as text. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.~-]/);
  const pb = b.split(/[.~-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x) ? Number(x) : Number.NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : Number.NaN;
    if (!Number.isNaN(nx) && !Number.isNaN(ny)) {
      if (nx !== ny) return nx < ny ? -1 : 1;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
