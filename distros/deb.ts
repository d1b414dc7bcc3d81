// Building blocks of apt repository definitions, shared by the apt distributions.
import type { DebRepository, DistroConfig } from "./types.js";

export function stripSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/** Components: main, then Repositories= in order. */
function components(config: DistroConfig): string[] {
  const out = ["main"];
  for (const r of config.Repositories) if (!out.includes(r)) out.push(r);
  return out;
}

export function debRepository(
  id: string,
  uri: string,
  suite: string,
  config: DistroConfig,
  keyring: string,
  inImage = true,
): DebRepository {
  return {
    id,
    types: ["deb"],
    uris: [uri],
    suites: [suite],
    components: components(config),
    signedBy: config.RepositoryKeyCheck ? [keyring] : [],
    trusted: !config.RepositoryKeyCheck,
    inImage,
  };
}

/** LocalMirror=: a single plain repository, trusted, used for the build only. */
export function localDebMirror(config: DistroConfig): DebRepository[] {
  return [
    {
      id: "local-mirror",
      types: ["deb"],
      uris: [stripSlash(config.LocalMirror!)],
      suites: [config.Release],
      components: components(config),
      signedBy: [],
      trusted: true,
      inImage: false,
    },
  ];
}
