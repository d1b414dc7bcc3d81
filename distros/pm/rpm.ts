// What dnf and zypper share: rpm's configuration (database path and backend, installed languages, the
// rpm-sequoia policy for keys with SHA-1 self-signatures), .repo files, the installed package list and
// the local repository (createrepo_c).
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCommand } from "../../sandbox/run.js";
import type { DistroConfig, InstalledPackage, LocalRepository, RpmRepository } from "../types.js";
import { collectPackages, writeUnlessPresent } from "./common.js";

/** rpm macros files (below /etc/rpm), written unless a sandbox tree provides them. No final newline, as
 * the reference writes them. */
export function rpmMacros(
  config: DistroConfig,
  db: { path: string; backend?: string },
): Record<string, string> {
  const files: Record<string, string> = { "macros.dbpath": `%_dbpath ${db.path}` };
  if (config.Locale) files["macros.lang"] = `%_install_langs ${config.Locale}`;
  if (db.backend) files["macros.db_backend"] = `%_db_backend ${db.backend}`;
  return files;
}

const SHA1_POLICY = `
[hash_algorithms]
sha1.second_preimage_resistance = "always"
sha224 = "always"
sha256 = "always"
sha384 = "always"
sha512 = "always"
default_disposition = "never"
`;

/** rpm-sequoia's policy with SHA-1 second preimage resistance accepted, on top of an existing policy. */
export function sequoiaPolicy(previous: string): string {
  let out = "";
  for (const line of previous.split(/(?<=\n)/)) {
    if (line === "") continue;
    out += line.startsWith("sha1.second_preimage_resistance")
      ? 'sha1.second_preimage_resistance = "always"\n'
      : line;
  }
  if (!previous.split("\n").some((line) => line.startsWith("[hash_algorithms]"))) out += SHA1_POLICY;
  return out;
}

/** Write rpm's configuration into the sandbox's /etc. */
export async function writeRpmConfig(
  etc: string,
  config: DistroConfig,
  db: { path: string; backend?: string },
  sha1Policy: boolean,
): Promise<void> {
  const macros = rpmMacros(config, db);
  // A sandbox tree's macros win (the reference always writes the database backend; here a tree may
  // choose another one, e.g. sqlite where the host's rpm has no ndb).
  for (const [name, content] of Object.entries(macros))
    await writeUnlessPresent(join(etc, "rpm", name), content);
  if (sha1Policy) {
    const policy = join(etc, "crypto-policies/back-ends/rpm-sequoia.config");
    const previous = existsSync(policy) ? await readFile(policy, "utf8") : "";
    await mkdir(join(etc, "crypto-policies/back-ends"), { recursive: true });
    await rm(policy, { force: true });
    await writeFile(policy, sequoiaPolicy(previous));
  }
}

/** A .repo file section per repository (dnf and zypper read the same format). `extra` adds lines after
 * the standard ones (zypper's autorefresh, ...); `section` names the section (zypper adds a hash). */
export function renderRepoFile(
  repos: readonly RpmRepository[],
  options: {
    section?: (repo: RpmRepository) => string;
    extra?: string[];
    metadataExpire?: string;
    ssl?: boolean;
  } = {},
): string {
  let out = "";
  for (const r of repos) {
    out += `[${options.section ? options.section(r) : r.id}]\nname=${r.id}\n${r.url.kind}=${r.url.value}\n`;
    out += `gpgcheck=1\nenabled=${r.enabled ? 1 : 0}\n`;
    for (const line of options.extra ?? []) out += `${line}\n`;
    if (options.ssl !== false) {
      if (r.sslcacert) out += `sslcacert=${r.sslcacert}\n`;
      if (r.sslclientcert) out += `sslclientcert=${r.sslclientcert}\n`;
      if (r.sslclientkey) out += `sslclientkey=${r.sslclientkey}\n`;
    }
    if (r.priority) out += `priority=${r.priority}\n`;
    if (options.metadataExpire) out += `metadata_expire=${options.metadataExpire}\n`;
    r.gpgurls.forEach((url, i) => {
      out += `${i === 0 ? "gpgkey=" : " ".repeat("gpgkey=".length)}${url}\n`;
    });
    out += "\n";
  }
  return out;
}

/** Where the image's rpm database is (its location depends on the distribution and release). */
function rpmDbPath(root: string): string | undefined {
  return ["usr/lib/sysimage/rpm", "var/lib/rpm"].find((p) => {
    const dir = join(root, p);
    return (
      existsSync(join(dir, "rpmdb.sqlite")) ||
      existsSync(join(dir, "Packages.db")) ||
      existsSync(join(dir, "Packages"))
    );
  });
}

/** Installed packages per the image's rpm database (rpm of the host reads it, --root'ed). */
export async function rpmListInstalled(root: string): Promise<InstalledPackage[]> {
  const dbPath = rpmDbPath(root);
  if (!dbPath) return [];
  const r = await runCommand(
    [
      "rpm",
      `--root=${root}`,
      `--dbpath=/${dbPath}`,
      "--query",
      "--all",
      "--queryformat",
      "%{NEVRA}\\t%{SOURCERPM}\\t%{NAME}\\t%{ARCH}\\t%{LONGSIZE}\\n",
    ],
    { captureStdout: true, env: { ...process.env, HOME: "/" } },
  );
  const out: InstalledPackage[] = [];
  for (const line of r.stdout.split("\n")) {
    const [nevra, srpm, name, arch, size] = line.split("\t");
    if (!nevra || !name) continue;
    let evr = nevra.startsWith(`${name}-`) ? nevra.slice(name.length + 1) : nevra;
    // Keys have no architecture ("(none)"), and it is not part of their NEVRA.
    const architecture = arch === "(none)" ? "" : (arch ?? "");
    if (architecture && evr.endsWith(`.${architecture}`)) evr = evr.slice(0, -architecture.length - 1);
    const source = srpm && srpm !== "(none)" ? srpm.replace(/-[^-]+-[^-]+\.src\.rpm$/, "") : undefined;
    out.push({ name, version: evr, architecture, size: Number(size || 0), ...(source ? { source } : {}) });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** PackageDirectories= and $PACKAGEDIR: the .rpm files, indexed by createrepo_c. */
export async function rpmCreateLocalRepository(
  dirs: string[],
  repoDir: string,
  signal?: AbortSignal,
): Promise<LocalRepository | undefined> {
  const names = await collectPackages(dirs, repoDir, (n) => n.endsWith(".rpm") && !n.endsWith(".src.rpm"));
  if (names.length === 0) return undefined;
  // The index records no times (--set-timestamp-to-revision with a fixed revision), so the repository
  // (and what installs from it) is a function of the packages only.
  await runCommand(
    ["createrepo_c", "--quiet", "--no-database", "--revision", "0", "--set-timestamp-to-revision", repoDir],
    { signal },
  );
  return { dir: repoDir, packages: names };
}
