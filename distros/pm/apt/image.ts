// The apt and dpkg state inside the image: the dpkg database made ready before a run, service starts
// forbidden while maintainer scripts run, dpkg's backups dropped after, the installed packages listed,
// and the state removed for CleanPackageMetadata=.

import { existsSync } from "node:fs";
import { mkdir, rm, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCommand } from "../../../sandbox/run.js";
import type { InstalledPackage } from "../../types.js";

export async function ensureDpkgDb(root: string): Promise<void> {
  const db = join(root, "var/lib/dpkg");
  for (const d of ["info", "updates", "triggers", "alternatives"])
    await mkdir(join(db, d), { recursive: true });
  for (const f of ["status", "available"]) {
    if (!existsSync(join(db, f))) await writeFile(join(db, f), "");
  }
  await mkdir(join(root, "var/lib/apt"), { recursive: true });
}

/** Forbid service starts from maintainer scripts for the duration of `fn`. */
export async function withPolicyRcD<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const p = join(root, "usr/sbin/policy-rc.d");
  let created = false;
  if (!existsSync(p)) {
    await mkdir(join(root, "usr/sbin"), { recursive: true });
    await writeFile(p, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
    created = true;
  }
  try {
    return await fn();
  } finally {
    if (created) await unlink(p).catch(() => undefined);
  }
}

export async function fixupAfterInstall(root: string): Promise<void> {
  // dpkg writes these backups; they are not part of a reproducible tree.
  for (const f of [
    "var/lib/dpkg/status-old",
    "var/lib/dpkg/available-old",
    "var/cache/debconf/config.dat-old",
    "var/cache/debconf/templates.dat-old",
  ]) {
    await rm(join(root, f), { force: true });
  }
}

export async function dpkgListInstalled(root: string): Promise<InstalledPackage[]> {
  const admindir = join(root, "var/lib/dpkg");
  if (!existsSync(join(admindir, "status"))) return [];
  const r = await runCommand(
    [
      "dpkg-query",
      `--admindir=${admindir}`,
      "--show",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format, not a template
      "--showformat=${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\t${Installed-Size}\\t${source:Package}\\n",
    ],
    { captureStdout: true },
  );
  const out: InstalledPackage[] = [];
  for (const line of r.stdout.split("\n")) {
    const [status, name, version, architecture, size, source] = line.split("\t");
    if (!status?.startsWith("ii") || !name) continue;
    out.push({
      name,
      version: version ?? "",
      architecture: architecture ?? "",
      size: Number(size || 0) * 1024,
      ...(source ? { source } : {}),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function aptCleanMetadata(root: string, mode: "yes" | "no" | "auto" | boolean): Promise<void> {
  const m = mode === true ? "yes" : mode === false ? "no" : mode;
  if (m === "no") return;
  const hasApt = existsSync(join(root, "usr/bin/apt-get")) || existsSync(join(root, "usr/bin/apt"));
  const hasDpkg = existsSync(join(root, "usr/bin/dpkg"));
  if (m === "yes" || !hasApt) {
    for (const p of ["var/lib/apt", "var/cache/apt", "var/log/apt"])
      await rm(join(root, p), { recursive: true, force: true });
  }
  if (m === "yes" || !hasDpkg) {
    for (const p of ["var/lib/dpkg", "var/log/dpkg.log"])
      await rm(join(root, p), { recursive: true, force: true });
  }
}
