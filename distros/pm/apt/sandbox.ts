// Running apt and dpkg in a bubblewrap sandbox over a session: environment, bind mounts (configuration,
// caches, lists, the local repository, file:// mirrors), libeatmydata, and the lists a run reads.

import { existsSync } from "node:fs";
import { copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type BindMount,
  BUILDROOT,
  runCommand,
  runSandboxed,
  type SandboxOptions,
} from "../../../sandbox/run.js";
import type { PackageManagerContext } from "../../types.js";
import { fileMirrorBinds, packageManagerEnv } from "../common.js";
import { localRepository, renderDeb822 } from "./config.js";
import type { Session } from "./session.js";

/** The package managers' common environment (common.ts) with apt's and debconf's own; Environment= still
 * wins over these, as it does over the common ones. */
export function aptEnv(ctx: PackageManagerContext, network: boolean): Record<string, string> {
  const env = packageManagerEnv(ctx, network);
  const aptOwn: Record<string, string> = {
    HOME: "/root",
    APT_CONFIG: "/etc/apt/apt.conf",
    DEBIAN_FRONTEND: "noninteractive",
    DEBCONF_NONINTERACTIVE_SEEN: "true",
    // Bootable images get their initrds from mkosi itself: Debian's kernel hooks must not build them.
    ...(ctx.config.Bootable !== "disabled" ? { INITRD: "No" } : {}),
  };
  for (const [name, value] of Object.entries(aptOwn)) {
    if (!Object.hasOwn(ctx.env ?? {}, name)) env[name] = value;
  }
  return env;
}

export function aptBinds(ctx: PackageManagerContext, s: Session): BindMount[] {
  const binds: BindMount[] = [
    { src: s.etcApt, dst: "/etc/apt", readOnly: true },
    { src: s.dpkgCfg, dst: "/etc/dpkg/dpkg.cfg.d", readOnly: true },
    { src: s.aptCache, dst: "/var/cache/apt" },
    { src: s.archives, dst: "/var/cache/apt/archives" },
    { src: s.lists, dst: "/var/lib/apt/lists", readOnly: !s.listsWritable },
    { src: s.log, dst: "/var/log/apt" },
  ];
  if (ctx.localRepository) binds.push({ src: ctx.localRepository, dst: "/repository", readOnly: true });
  // file:// mirrors (LocalMirror=, Mirror=) are read where they are.
  binds.push(...fileMirrorBinds(ctx));
  return binds;
}

const HOST_DEBIAN_ARCH: Record<string, string> = {
  x64: "amd64",
  arm64: "arm64",
  ia32: "i386",
  ppc64: "ppc64el",
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loong64",
};
const EATMYDATA_IN_SANDBOX = "/tmp/.mkosi-eatmydata.so";

/** The libeatmydata of the host (or of the tools tree at `root`, whose dpkg runs), if installed and usable
 * for an image of `arch` (same architecture). It is
 * preloaded into dpkg and the maintainer scripts it runs chrooted in the image (the library is bound at
 * the same /tmp path outside and inside the image, on tmpfs, so nothing lands in the image): dpkg's
 * many fsync()s of its database are the largest avoidable cost of a bootstrap. MKOSI_EATMYDATA=0
 * disables it. */
function eatmydata(arch: string, root = "/"): string | undefined {
  if (process.env.MKOSI_EATMYDATA === "0") return undefined;
  if (HOST_DEBIAN_ARCH[process.arch] !== arch) return undefined;
  for (const dir of [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/i386-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
  ]) {
    const p = join(root, dir, "libeatmydata.so.1");
    if (existsSync(p)) return p;
  }
  return undefined;
}

export function sandboxFor(
  ctx: PackageManagerContext,
  s: Session,
  root: string | undefined,
  network: boolean,
  extra: BindMount[] = [],
): SandboxOptions {
  const env = aptEnv(ctx, network);
  const binds = [...aptBinds(ctx, s), ...extra];
  const lib = root !== undefined ? eatmydata(s.arch, ctx.tools?.root) : undefined;
  if (lib) {
    binds.push({ src: lib, dst: EATMYDATA_IN_SANDBOX, readOnly: true });
    binds.push({ src: lib, dst: `${BUILDROOT}${EATMYDATA_IN_SANDBOX}`, readOnly: true });
  }
  return {
    mode: "tools",
    tools: ctx.tools,
    root,
    apivfs: root !== undefined,
    network,
    env,
    binds,
    // apt chmods lists/auxfiles even when only reading; give it a private writable one.
    extraArgs: [
      ...(!s.listsWritable && existsSync(join(s.lists, "auxfiles"))
        ? ["--tmpfs", "/var/lib/apt/lists/auxfiles"]
        : []),
      // Set inside the sandbox only: bwrap itself runs where the library path does not exist.
      ...(lib ? ["--setenv", "LD_PRELOAD", EATMYDATA_IN_SANDBOX] : []),
    ],
    signal: ctx.signal,
    onOutput: ctx.onOutput,
    debugShell: root !== undefined && ctx.debugShell ? { terminal: ctx.debugShell } : undefined,
  };
}

/** Prepare the srcpkgcache copy so apt does not rebuild it from the lists every time. */
export async function seedAptCache(ctx: PackageManagerContext, s: Session): Promise<void> {
  for (const f of ["srcpkgcache.bin"]) {
    const src = join(ctx.metadataDir, "cache", f);
    if (existsSync(src)) await copyFile(src, join(s.aptCache, f)).catch(() => undefined);
  }
}

/** With a local repository, the lists need a private writable copy (hardlinks; apt replaces files by
 * rename, so the shared metadata is never modified) plus an update of just the local source. */
export async function withLocalLists(ctx: PackageManagerContext, s: Session): Promise<void> {
  if (!ctx.localRepository) return;
  const lists = join(ctx.workDir, "lists");
  await rm(lists, { recursive: true, force: true });
  if (existsSync(s.lists)) await runCommand(["cp", "-al", s.lists, lists], { signal: ctx.signal });
  else await mkdir(lists, { recursive: true });
  await mkdir(join(lists, "partial"), { recursive: true });
  s.lists = lists;
  s.listsWritable = true;
  const only = join(ctx.workDir, "local-sources");
  await mkdir(only, { recursive: true });
  await writeFile(join(only, "mkosi-local.sources"), renderDeb822([localRepository()]));
  await runSandboxed(
    [
      "apt-get",
      "-q",
      "-o",
      "Dir::Etc::SourceList=/dev/null",
      "-o",
      "Dir::Etc::SourceParts=/mkosi-local-sources",
      "-o",
      "APT::Get::List-Cleanup=false",
      "-o",
      `Dir::State::Status=/dev/null`,
      "-o",
      "Dir::State=/var/lib/apt",
      "update",
    ],
    sandboxFor(ctx, s, undefined, false, [{ src: only, dst: "/mkosi-local-sources", readOnly: true }]),
  );
}
