// What apt and dpkg are told: repositories as deb822 sources, the apt.conf of every run, dpkg's
// options, the local repository's source and pin, and the keyrings checked repositories need.
// Pure rendering (and one existence check): writing it out is session.ts's job.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { BUILDROOT } from "../../../sandbox/run.js";
import { type AptDistribution, type DebRepository, DistributionError } from "../../types.js";

export function debianArchitecture(d: AptDistribution, arch: string): string {
  const a = d.architectures[arch];
  if (!a) throw new DistributionError(`Architecture ${arch} is not supported by ${d.prettyName}`);
  return a;
}

/** Doc paths dropped with WithDocs=no (copyright files are kept). */
export const DOC_PATH_EXCLUDES = [
  "/usr/share/doc/*",
  "/usr/share/man/*",
  "/usr/share/info/*",
  "/usr/share/groff/*",
  "/usr/share/gtk-doc/*",
  "/usr/share/lintian/*",
  "/usr/share/linda/*",
];
export const DOC_PATH_INCLUDES = ["/usr/share/doc/*/copyright"];

/** Render repositories as a deb822 .sources file. */
export function renderDeb822(repos: readonly DebRepository[]): string {
  return repos
    .map((r) => {
      const lines = [
        `Types: ${r.types.join(" ")}`,
        `URIs: ${r.uris.join(" ")}`,
        `Suites: ${r.suites.join(" ")}`,
      ];
      if (r.components.length) lines.push(`Components: ${r.components.join(" ")}`);
      if (r.trusted) lines.push("Trusted: yes");
      else if (r.signedBy.length) lines.push(`Signed-By: ${r.signedBy.join(" ")}`);
      return `${lines.join("\n")}\n`;
    })
    .join("\n");
}

export interface AptConfOptions {
  arch: string;
  withDocs: boolean;
  withRecommends: boolean;
  keyCheck: boolean;
  proxy?: string | null;
}

/** dpkg options shared by apt-driven and direct dpkg runs. */
export function dpkgOptions(withDocs: boolean): string[] {
  const o = ["--force-unsafe-io", "--force-confdef", "--force-confold", "--log=/dev/null", "--no-debsig"];
  if (!withDocs) {
    for (const p of DOC_PATH_EXCLUDES) o.push(`--path-exclude=${p}`);
    for (const p of DOC_PATH_INCLUDES) o.push(`--path-include=${p}`);
  }
  return o;
}

/** The apt.conf used for every apt run (paths are the fixed sandbox paths documented in pm/apt.ts). */
export function renderAptConf(o: AptConfOptions): string {
  const q = (s: string) => `"${s.replace(/["\\]/g, "\\$&")}"`;
  const lines = [
    `Dir::Etc ${q("/etc/apt")};`,
    `Dir::Etc::Main ${q("apt.conf.d/00-none")};`,
    `Dir::Etc::Parts ${q("apt.conf.d")};`,
    `Dir::Etc::SourceList ${q("sources.list")};`,
    `Dir::Etc::SourceParts ${q("sources.list.d")};`,
    `Dir::Etc::Preferences ${q("preferences")};`,
    `Dir::Etc::PreferencesParts ${q("preferences.d")};`,
    `Dir::Etc::TrustedParts ${q("trusted.gpg.d")};`,
    `Dir::State ${q(`${BUILDROOT}/var/lib/apt`)};`,
    `Dir::State::Lists ${q("/var/lib/apt/lists/")};`,
    `Dir::State::Status ${q(`${BUILDROOT}/var/lib/dpkg/status`)};`,
    `Dir::Cache ${q("/var/cache/apt")};`,
    `Dir::Cache::Archives ${q("/var/cache/apt/archives/")};`,
    `Dir::Log ${q("/var/log/apt")};`,
    `Dir::Bin::dpkg ${q("/usr/bin/dpkg")};`,
    `APT::Architecture ${q(o.arch)};`,
    `APT::Architectures { ${q(o.arch)}; };`,
    `APT::Install-Recommends ${q(o.withRecommends ? "true" : "false")};`,
    `APT::Install-Suggests "false";`,
    `APT::Get::Assume-Yes "true";`,
    `APT::Get::AutomaticRemove "true";`,
    `APT::Get::Allow-Change-Held-Packages "true";`,
    `APT::Get::Allow-Remove-Essential "true";`,
    `APT::Immediate-Configure "false";`,
    `APT::Sandbox::User "root";`,
    `APT::Keep-Downloaded-Packages "true";`,
    `APT::Cache-Start "67108864";`,
    `Acquire::Languages "none";`,
    `Acquire::AllowReleaseInfoChange "true";`,
    `Acquire::Check-Valid-Until "false";`,
    `Acquire::Retries "3";`,
    `Acquire::Queue-Mode "host";`,
    `Debug::NoLocking "true";`,
    `DPkg::Use-Pty "false";`,
    `DPkg::Install::Recursive::Minimum "1000";`,
    `pkgCacheGen::ForceEssential ",";`,
    `Binary::apt::APT::Keep-Downloaded-Packages "true";`,
    `DPkg::Options { ${[`--root=${BUILDROOT}`, "--force-architecture", ...dpkgOptions(o.withDocs)].map((x) => `${q(x)};`).join(" ")} };`,
  ];
  if (!o.keyCheck) {
    lines.push(
      `Acquire::AllowInsecureRepositories "true";`,
      `Acquire::AllowDowngradeToInsecureRepositories "true";`,
      `APT::Get::AllowUnauthenticated "true";`,
    );
  }
  if (o.proxy) lines.push(`Acquire::http::Proxy ${q(o.proxy)};`, `Acquire::https::Proxy ${q(o.proxy)};`);
  return `${lines.join("\n")}\n`;
}

export const LOCAL_REPO_ORIGIN = "mkosi-local";
export const LOCAL_REPO_PRIORITY = 1100;

export function localRepository(): DebRepository {
  return {
    id: "mkosi-local",
    types: ["deb"],
    uris: ["file:///repository"],
    suites: ["./"],
    components: [],
    signedBy: [],
    trusted: true,
    inImage: false,
  };
}

/** Check that every keyring a checked repository needs exists on the host (or in the tools tree at
 * `root`, where apt runs). */
export function checkKeyrings(repos: readonly DebRepository[], hint: string, root = "/"): void {
  for (const r of repos) {
    if (r.trusted) continue;
    for (const k of r.signedBy) {
      if (!existsSync(join(root, k))) {
        throw new DistributionError(
          `Keyring ${k} for repository ${r.uris.join(" ")} ${r.suites.join(" ")} is missing; install ${hint} ` +
            "(or set RepositoryKeyCheck=no)",
        );
      }
    }
  }
}
