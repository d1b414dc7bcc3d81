// ManifestFormat=: `<Output>.manifest` (json) and `<Output>.changelog` (changelog), in upstream's shapes.
//
// json (Python `json.dump(indent=2)`: ASCII-only with \uXXXX escapes, no trailing newline):
//   { "manifest_version": 1,
//     "config": { "name": ImageId or "image", "distribution", "architecture", "output_format",
//                 ["version": ImageVersion], ["release": Release] },
//     "packages": [ { "type": "deb"|"rpm"|"pkg", "name", "version", "architecture", "size" }, ... ],
//     "extension": { extension-release fields, sysext/confext only; {} otherwise } }
// Packages are sorted by name (upstream sorts the query output lines, which start with the name).
//
// changelog (modelled on Fedora compose reports):
//   Packages: <n>
//   Size:     <total bytes>            (no newline here)
//   then per source package, in order of first appearance:
//   "\n" + 80 dashes + "\n" + "SourcePackage: <src>\nPackages:      <bin names>\nSize:          <bytes>\n"
//   [+ "\nChangelog:\n<changelog text>\n"]
//
// Nothing is written when there are no packages and no extension data (upstream's `has_data`).
// The package list (and the changelog texts) come from the caller: distros/ queries the image's package
// database (`listInstalled`), `apt-get changelog` etc.
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { siblingTempPath } from "./exec.js";
import type { OutputConfig } from "./types.js";

export interface ManifestPackage {
  name: string;
  version: string;
  architecture: string;
  /** Installed size in bytes. */
  size: number;
  /** Source package name (defaults to the binary name). */
  source?: string;
}

export type PackageType = "deb" | "rpm" | "pkg" | "none";

export interface ManifestInput {
  config: OutputConfig;
  packages: ManifestPackage[];
  /** The distribution's package type (the caller knows it from distros/). */
  packageType: PackageType;
  /** extension-release fields (sysext/confext). */
  extension?: Record<string, string>;
  /** Changelog text per source package name (changelog format only). */
  changelogs?:
    | Record<string, string | undefined>
    | ((source: string, firstBinary: string) => string | undefined);
}

function sortedPackages(packages: ManifestPackage[]): ManifestPackage[] {
  const key = (p: ManifestPackage) =>
    `${p.name}\t${p.source ?? p.name}\t${p.version}\t${p.architecture}\t${p.size}`;
  return [...packages].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

/** The manifest object (key order as upstream). */
export function manifestObject(input: ManifestInput): Record<string, unknown> {
  const cfg = input.config;
  const type = input.packageType;
  const config: Record<string, unknown> = {
    name: cfg.ImageId || "image",
    distribution: cfg.Distribution ?? null,
    architecture: cfg.Architecture ?? null,
    output_format: cfg.Format,
  };
  if (cfg.ImageVersion !== null && cfg.ImageVersion !== undefined) config.version = cfg.ImageVersion;
  if (cfg.Release !== null && cfg.Release !== undefined) config.release = cfg.Release;
  return {
    manifest_version: 1,
    config,
    packages: sortedPackages(input.packages).map((p) => ({
      type,
      name: p.name,
      version: p.version,
      architecture: p.architecture,
      size: p.size,
    })),
    extension: input.extension ?? {},
  };
}

/** JSON text exactly as Python's `json.dump(obj, f, indent=2)` writes it (ensure_ascii, no final newline). */
export function pythonJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The changelog report text. */
export function changelogReport(input: ManifestInput): string {
  const packages = sortedPackages(input.packages);
  const total = packages.reduce((s, p) => s + p.size, 0);
  let out = `Packages: ${packages.length}\nSize:     ${total}`;
  const sources = new Map<string, ManifestPackage[]>();
  for (const p of packages) {
    const src = p.source || p.name;
    const list = sources.get(src);
    if (list) list.push(p);
    else sources.set(src, [p]);
  }
  for (const [src, bins] of sources) {
    const size = bins.reduce((s, p) => s + p.size, 0);
    const changelog =
      typeof input.changelogs === "function" ? input.changelogs(src, bins[0]!.name) : input.changelogs?.[src];
    out += `\n${"-".repeat(80)}\n`;
    out += `SourcePackage: ${src}\nPackages:      ${bins.map((b) => b.name).join(" ")}\nSize:          ${size}\n`;
    if (changelog) out += `\nChangelog:\n${changelog.trim()}\n`;
  }
  return out;
}

/** Whether upstream would write anything (packages or extension data present). */
export function manifestHasData(input: ManifestInput): boolean {
  return input.packages.length > 0 || Object.keys(input.extension ?? {}).length > 0;
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = siblingTempPath(path);
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/**
 * Writes the manifests ManifestFormat= asks for into `staging` under `names.manifest` /
 * `names.changelog`. Returns the names written (none without data or without ManifestFormat=).
 */
export async function writeManifests(
  staging: string,
  names: { manifest: string; changelog: string },
  input: ManifestInput,
): Promise<string[]> {
  const formats = input.config.ManifestFormat ?? [];
  if (formats.length === 0 || !manifestHasData(input)) return [];
  const written: string[] = [];
  if (formats.includes("json")) {
    await writeAtomic(join(staging, names.manifest), pythonJson(manifestObject(input)));
    written.push(names.manifest);
  }
  if (formats.includes("changelog")) {
    await writeAtomic(join(staging, names.changelog), changelogReport(input));
    written.push(names.changelog);
  }
  return written;
}
