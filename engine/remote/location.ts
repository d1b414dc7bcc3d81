// Where a remote cache lives: an OCI distribution registry and a repository in it, parsed from the URL the
// user gives (`https://registry.example.com/team/mkosi-cache`, `http://localhost:5000/cache`, or
// `registry.example.com/cache`, which means https). Plain HTTP only for an explicit http:// URL.

export interface RemoteLocation {
  /** The URL as given, for messages. */
  url: string;
  /** TLS unless the URL said http://. */
  secure: boolean;
  /** host[:port] as written: the name credentials files and certs.d directories use. */
  registry: string;
  /** host[:port] the API is served from (Docker Hub's API lives on another host than its name). */
  apiHost: string;
  /** Repository name, e.g. "team/mkosi-cache". */
  repository: string;
}

/** The distribution spec's repository name grammar. */
const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const REPOSITORY = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

export class RemoteLocationError extends Error {
  override name = "RemoteLocationError";
}

export function parseRemoteLocation(spec: string): RemoteLocation {
  const raw = spec.trim();
  let rest = raw;
  let secure = true;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(rest);
  if (scheme) {
    const s = scheme[1]!.toLowerCase();
    if (s === "http") secure = false;
    else if (s !== "https")
      throw new RemoteLocationError(`${spec}: unsupported scheme ${s}:// (use https:// or http://)`);
    rest = rest.slice(scheme[0].length);
  }
  rest = rest.replace(/\/+$/, "");
  const slash = rest.indexOf("/");
  if (slash <= 0)
    throw new RemoteLocationError(
      `${spec}: expected REGISTRY/REPOSITORY, e.g. https://ghcr.io/org/mkosi-cache`,
    );
  const registry = rest.slice(0, slash).toLowerCase();
  const repository = rest.slice(slash + 1);
  if (!/^[a-z0-9.-]+(?::\d{1,5})?$|^\[[0-9a-f:]+\](?::\d{1,5})?$/.test(registry))
    throw new RemoteLocationError(`${spec}: "${registry}" is not a registry host name`);
  if (!REPOSITORY.test(repository))
    throw new RemoteLocationError(
      `${spec}: "${repository}" is not a repository name (lowercase letters, digits, separators . _ - and /)`,
    );
  // Docker Hub is named docker.io but serves its API from registry-1.docker.io; its one-component names
  // live under library/.
  const hub = registry === "docker.io" || registry === "index.docker.io";
  return {
    url: raw,
    secure,
    registry: hub ? "docker.io" : registry,
    apiHost: hub ? "registry-1.docker.io" : registry,
    repository: hub && !repository.includes("/") ? `library/${repository}` : repository,
  };
}

/** The tag that names a key's manifest: the key itself (64 hex digits), prefixed by the flavour of the
 * caches that may share it when there is one (e.g. "unprivileged-<key>"). */
export function tagOf(key: string, flavour: string | undefined): string {
  if (!/^[0-9a-f]{64}$/.test(key)) throw new Error(`not a cache key: ${key}`);
  return flavour ? `${flavour}-${key}` : key;
}
