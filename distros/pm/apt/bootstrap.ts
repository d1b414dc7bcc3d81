// The base system from .debs, without debootstrap: one apt run resolves and downloads the essential
// set, the .debs are extracted in parallel, and one dpkg run registers and configures them all.

import { chmod, copyFile, lstat, mkdir, readFile, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BUILDROOT, type OutputCallback, runCommand, runSandboxed } from "../../../sandbox/run.js";
import {
  type AptDistribution,
  type BootstrapOptions,
  DistributionError,
  type PackageManagerContext,
} from "../../types.js";
import { fileMirrorBinds, parallel } from "../common.js";
import { dpkgOptions } from "./config.js";
import { ensureDpkgDb, fixupAfterInstall, withPolicyRcD } from "./image.js";
import { sandboxFor, seedAptCache, withLocalLists } from "./sandbox.js";
import { type Session, writeConfig } from "./session.js";

/** Extra top-level lib directories of the merged-/usr layout per Debian architecture (besides bin,
 * sbin, lib), as the archive's packages expect them. */
const MERGED_USR_LIBDIRS: Record<string, string[]> = {
  amd64: ["lib32", "lib64", "libx32"],
  i386: ["lib64", "libx32"],
  mipsel: ["lib32", "lib64"],
  mips64el: ["lib32", "lib64", "libo32"],
  loong64: ["lib32", "lib64"],
  powerpc: ["lib64"],
  ppc64: ["lib32", "lib64"],
  ppc64el: ["lib64"],
  s390x: ["lib32"],
};

async function makeMergedUsr(root: string, arch: string): Promise<void> {
  for (const d of ["bin", "sbin", "lib", ...(MERGED_USR_LIBDIRS[arch] ?? [])]) {
    await mkdir(join(root, "usr", d), { recursive: true });
    const link = join(root, d);
    const st = await lstat(link).catch(() => undefined);
    if (!st) await symlink(`usr/${d}`, link);
  }
  for (const d of ["etc", "var/lib", "var/cache", "var/log", "tmp", "proc", "sys", "dev", "run"]) {
    await mkdir(join(root, d), { recursive: true });
  }
  await chmod(join(root, "tmp"), 0o1777);
}

export async function aptBootstrap(
  ctx: PackageManagerContext,
  d: AptDistribution,
  root: string,
  options: BootstrapOptions = {},
  /** Holds the shared package cache while apt downloads into it (extraction and dpkg do not need it). */
  whileDownloading: <T>(download: () => Promise<T>) => Promise<T> = (download) => download(),
): Promise<void> {
  const network = options.network ?? true;
  const s = await writeConfig(ctx, d, ctx.localRepository !== undefined);
  await seedAptCache(ctx, s);
  await withLocalLists(ctx, s);
  await makeMergedUsr(root, s.arch);
  await ensureDpkgDb(root);

  // 1. Resolve and download the base set in one apt run; collect the .deb paths via a hook.
  const hookDir = join(ctx.workDir, "hook");
  await mkdir(hookDir, { recursive: true });
  const selection = [
    "?essential",
    ...(options.required ? ["?priority(required)"] : []),
    ...(options.extraPackages ?? []),
  ];
  await whileDownloading(() =>
    runSandboxed(
      [
        "apt-get",
        "-q",
        "-o",
        "Debug::pkgDpkgPm=1",
        "-o",
        "DPkg::Pre-Install-Pkgs::=cat >/mkosi-hook/debs",
        "install",
        "--",
        ...selection,
      ],
      sandboxFor(ctx, s, root, network, [{ src: hookDir, dst: "/mkosi-hook" }]),
    ),
  );
  const debs = (await readFile(join(hookDir, "debs"), "utf8").catch(() => ""))
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.endsWith(".deb"));
  if (debs.length === 0) throw new DistributionError("apt selected no packages to bootstrap");
  const hostPath = (p: string) => {
    if (p.startsWith("/var/cache/apt/archives/"))
      return join(s.archives, p.slice("/var/cache/apt/archives/".length));
    if (p.startsWith("/repository/") && ctx.localRepository)
      return join(ctx.localRepository, p.slice("/repository/".length));
    // A file:// mirror's packages are used where they are (bound at the same path).
    if (fileMirrorBinds(ctx).some((b) => p.startsWith(`${b.dst}/`))) return p;
    throw new DistributionError(`unexpected package path from apt: ${p}`);
  };

  // 2. Extract everything in parallel so maintainer scripts have a working userland.
  await parallel(debs, async (deb) => {
    await runCommand(
      [
        "bash",
        "-c",
        'set -o pipefail; dpkg-deb --fsys-tarfile "$1" | tar -x --numeric-owner --keep-directory-symlink -f - -C "$2"',
        "bash",
        hostPath(deb),
        root,
      ],
      { signal: ctx.signal, onOutput: ctx.onOutput },
    );
  });
  if (!ctx.config.WithDocs) {
    // dpkg --install below reinstalls everything with path excludes; drop what extraction put there.
    for (const d of [
      "usr/share/doc",
      "usr/share/man",
      "usr/share/info",
      "usr/share/groff",
      "usr/share/gtk-doc",
      "usr/share/lintian",
    ]) {
      await rm(join(root, d), { recursive: true, force: true });
    }
  }

  // 3. Register and configure the whole set with one dpkg run.
  await withPolicyRcD(root, () =>
    runSandboxed(
      [
        "dpkg",
        `--root=${BUILDROOT}`,
        "--force-depends",
        "--force-architecture",
        ...dpkgOptions(ctx.config.WithDocs),
        "--install",
        ...debs,
      ],
      { ...sandboxFor(ctx, s, root, false), onOutput: withoutPreDependsNoise(ctx.onOutput) },
    ),
  );
  await fixupAfterInstall(root);
  const codename = d.osReleaseCodename?.(ctx.config.Release);
  if (codename) await fixupOsReleaseCodename(ctx, s, root, codename);
}

/** base-files in sid carries the next release's codename; make os-release say sid, diverting the file
 * so that base-files upgrades inside the image keep the change. */
async function fixupOsReleaseCodename(
  ctx: PackageManagerContext,
  s: Session,
  root: string,
  codename: string,
): Promise<void> {
  const file = join(root, "usr/lib/os-release");
  const text = await readFile(file, "utf8").catch(() => undefined);
  if (text === undefined || new RegExp(`^VERSION_CODENAME=${codename}$`, "m").test(text)) return;
  await runSandboxed(
    [
      "dpkg-divert",
      `--root=${BUILDROOT}`,
      "--quiet",
      "--local",
      "--add",
      "--no-rename",
      "--divert",
      "/usr/lib/os-release.dpkg",
      "/usr/lib/os-release",
    ],
    sandboxFor(ctx, s, root, false),
  );
  await copyFile(file, `${file}.dpkg`);
  const fixed = /^VERSION_CODENAME=/m.test(text)
    ? text.replace(/^VERSION_CODENAME=.*$/m, `VERSION_CODENAME=${codename}`)
    : `${text.replace(/\n?$/, "\n")}VERSION_CODENAME=${codename}\n`;
  await unlink(file);
  await writeFile(file, fixed, { mode: 0o644 });
}

/** Installing the essential set in one dpkg run with --force-depends makes dpkg report every
 * pre-dependency that is unpacked but not configured yet; expected, so not passed on. */
function withoutPreDependsNoise(cb: OutputCallback | undefined): OutputCallback | undefined {
  if (!cb) return cb;
  return (line, stream) => {
    if (
      line === "" ||
      /^dpkg: (warning: ignoring pre-dependency problem!|regarding .* pre-dependency problem:)$/.test(line) ||
      /^ \S+ pre-depends on /.test(line) ||
      /^ {2}\S+ (is|provides \S+ but is) (not installed|(unpacked|to be installed)[^.]*)\.?$/.test(line)
    )
      return;
    cb(line, stream);
  };
}
