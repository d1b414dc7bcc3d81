// Shared fixtures for the apt tests: one package cache for the whole suite (each .deb is downloaded
// once), the host's own Debian mirror, and a synced bookworm metadata directory reused by all tests.
import { existsSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { DistroConfig } from "../../distros/types.js";

export const PACKAGE_CACHE = process.env.MKOSI_TEST_PACKAGE_CACHE ?? "/var/cache/mkosi-ts-test/packages";
export const METADATA_CACHE = process.env.MKOSI_TEST_METADATA_CACHE ?? "/var/cache/mkosi-ts-test/metadata";

/** The Debian mirror the host's apt uses (so tests work wherever the host's apt works). */
export function hostDebianMirror(): string {
  for (const f of ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, "utf8");
    const m =
      /^URIs:\s*(\S+\/debian)\s*$/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\s/m.exec(text);
    if (m?.[1]) return m[1];
  }
  return "http://deb.debian.org/debian";
}

export function bookworm(overrides: Partial<DistroConfig> = {}): DistroConfig {
  return {
    Distribution: "debian",
    Release: "bookworm",
    Architecture: "x86-64",
    Mirror: hostDebianMirror(),
    LocalMirror: null,
    RepositoryKeyCheck: true,
    Repositories: [],
    WithDocs: true,
    WithRecommends: false,
    ...overrides,
  };
}

export async function ensureDir(p: string): Promise<string> {
  await mkdir(p, { recursive: true });
  return p;
}

export const canRunApt =
  process.getuid?.() === 0 && existsSync("/usr/bin/apt-get") && existsSync("/usr/bin/bwrap");

export function metadataDirFor(name: string): string {
  return join(METADATA_CACHE, name);
}
