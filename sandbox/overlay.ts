// Overlayfs stacks: the image tree is a stack of layer directories. A tree-modifying step mounts
// overlay(lowers = earlier layers, upper = its own output) and works on the merged view; its artifact is
// the upper directory. Layers must stay reusable as read-only lowers of later stacks, so every mount uses
// index=off, xino=off, redirect_dir=off, metacopy=off (no inode index, no redirects and no metacopy-only
// files, which would tie an upper to the exact lowers it was created on), and uuid=off (no random uuid
// written into the upper directory: a layer's content must not change from one run to the next).
//
// Mounting: on kernels with `lowerdir+` (Linux 6.8+) the stack is assembled with the new mount API
// (fsopen/fsconfig/fsmount/move_mount, one fsconfig call per layer, so neither the 4 KiB legacy option
// limit nor path characters matter; up to the kernel's 500-layer limit). The syscalls are issued by a
// tiny Perl program (perl-base is Essential on Debian, and Perl has `syscall`), which avoids a native
// Node addon. Older kernels get `mount -t overlay` with a colon list; paths are made relative to a
// common parent directory (the kernel resolves them against the mounting process's cwd) to fit more
// layers into the 4 KiB option page.
//
// Mounts live in the caller's mount namespace; `unmount()` is idempotent, `withOverlay` guarantees it,
// and `unmountUnder()` sweeps leftovers (e.g. after a SIGKILL) below a scratch directory.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rmdir } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { promisify } from "node:util";
import { inUserNamespace } from "./userns.js";

const execFileP = promisify(execFile);

/** Options that keep upper directories reusable as plain lower layers. */
export const REUSABLE_LAYER_OPTIONS = [
  "index=off",
  "xino=off",
  "redirect_dir=off",
  "metacopy=off",
  "uuid=off",
] as const;

/** Mount options for a stack. In a user namespace overlayfs keeps its whiteout and opaque markers in
 * `user.overlay.*` xattrs (`userxattr`), which implies that redirects are never followed. Layers made one
 * way are not readable the other way, so privileged and unprivileged builds keep separate caches. */
export function layerMountOptions(userNamespace: boolean): string[] {
  if (!userNamespace) return [...REUSABLE_LAYER_OPTIONS];
  return [
    ...REUSABLE_LAYER_OPTIONS.map((o) => (o === "redirect_dir=off" ? "redirect_dir=nofollow" : o)),
    "userxattr",
  ];
}

/** The kernel's maximum number of lower layers (OVL_MAX_STACK). */
export const MAX_LOWER_LAYERS = 500;

export interface OverlayOptions {
  /** Lower layer directories, BOTTOM FIRST (the order layers were created in). May be empty. */
  lowers: readonly string[];
  /** Upper directory (receives all writes). Without it the mount is read-only. */
  upper?: string;
  /** Overlay work directory: empty, on the same filesystem as `upper`. Required with `upper`. */
  work?: string;
  /** Mount point (an existing directory). */
  target: string;
}

export interface OverlayMount {
  readonly target: string;
  /** Unmount (idempotent). Falls back to a lazy unmount if the mount stays busy. */
  unmount(): Promise<void>;
}

export class OverlayError extends Error {
  constructor(
    message: string,
    readonly options: OverlayOptions,
  ) {
    super(message);
    this.name = "OverlayError";
  }
}

/** overlayfs needs a lower layer where the stack has none to offer (a read-only stack of one layer, an
 * upper with nothing below): an empty directory made next to the mount point and removed with the mount,
 * so nothing outlives it (and what a kill -9 leaves lies in the caller's scratch directory). */
function emptyLayerFor(target: string): Promise<string> {
  return mkdtemp(join(dirname(resolve(target)), ".mkosi-empty-layer-"));
}

let kernelLowerdirAppend: boolean | undefined;
let forcedApi: "new" | "legacy" | undefined =
  process.env.MKOSI_OVERLAY_MOUNT_API === "legacy" ? "legacy" : undefined;

/** Force the mount API ("auto" = new API when the kernel has lowerdir+). For tests and debugging; the
 * environment variable MKOSI_OVERLAY_MOUNT_API=legacy does the same. */
export function setOverlayMountApi(api: "auto" | "new" | "legacy"): void {
  forcedApi = api === "auto" ? undefined : api;
}

/** Does the running kernel accept `lowerdir+` through fsconfig (Linux 6.8 and newer)? */
export async function kernelSupportsLowerdirAppend(): Promise<boolean> {
  if (kernelLowerdirAppend !== undefined) return kernelLowerdirAppend;
  const release = (await readFile("/proc/sys/kernel/osrelease", "utf8")).trim();
  const m = /^(\d+)\.(\d+)/.exec(release);
  const major = Number(m?.[1] ?? 0);
  const minor = Number(m?.[2] ?? 0);
  kernelLowerdirAppend = major > 6 || (major === 6 && minor >= 8);
  return kernelLowerdirAppend;
}

// fsopen(430) fsconfig(431) fsmount(432) move_mount(429): the same numbers on every architecture that
// uses the generic syscall table (x86-64, arm64, riscv64, ppc64, s390x, ...).
const FSCONFIG_PERL = String.raw`
use strict; use warnings;
my ($target, $ro, @opts) = @ARGV;
my $fstype = "overlay"; my $empty = "";
my $fd = syscall(430, $fstype, 1);
die "fsopen(overlay): $!\n" if $fd < 0;
sub fail {
  my ($what) = @_; my $err = "$!"; my @log;
  if (open(my $fh, "<&=", $fd)) { while (1) { my $buf; my $n = sysread($fh, $buf, 4096); last if !$n; chomp $buf; push @log, $buf; } }
  die "$what: $err" . (@log ? " (" . join("; ", @log) . ")" : "") . "\n";
}
for my $o (@opts) {
  my $i = index($o, "="); my $k = $i < 0 ? $o : substr($o, 0, $i); my $v = $i < 0 ? "" : substr($o, $i + 1);
  my $r = $i < 0 ? syscall(431, $fd, 0, $k, 0, 0) : syscall(431, $fd, 1, $k, $v, 0);
  fail("fsconfig $o") if $r < 0;
}
syscall(431, $fd, 6, 0, 0, 0) >= 0 or fail("fsconfig create");
my $mfd = syscall(432, $fd, 1, $ro ? 1 : 0);
fail("fsmount") if $mfd < 0;
syscall(429, $mfd, $empty, -100, $target, 4) >= 0 or fail("move_mount");
`;

/** Does the stack need an empty bottom layer? Read-only stacks do: it makes one-layer stacks valid
 * (overlayfs needs two lowers without an upper) and keeps whiteouts in the bottom real layer interpreted
 * rather than exposed. So does an upper with no lowers. */
function needsEmptyLayer(opts: OverlayOptions): boolean {
  return !opts.upper || opts.lowers.length === 0;
}

function overlayStack(lowers: readonly string[], empty: string | undefined): string[] {
  // overlayfs lists lowers top first.
  const top = [...lowers].reverse().map((p) => resolve(p));
  if (empty) top.push(empty);
  return top;
}

async function mountNewApi(stack: string[], opts: OverlayOptions, extra: string[]): Promise<void> {
  const args = [FSCONFIG_PERL, resolve(opts.target), opts.upper ? "0" : "1"];
  for (const l of stack) args.push(`lowerdir+=${l}`);
  if (opts.upper) args.push(`upperdir=${resolve(opts.upper)}`, `workdir=${resolve(opts.work!)}`);
  args.push(...extra);
  await execFileP("perl", ["-e", ...args], { maxBuffer: 1 << 20 });
}

function escapeLegacy(path: string): string {
  return path.replace(/([\\:,])/g, "\\$1");
}

function commonParent(paths: string[]): string {
  let parent = dirname(paths[0]!);
  while (parent !== "/" && !paths.every((p) => p.startsWith(parent + sep))) parent = dirname(parent);
  return parent;
}

async function mountLegacy(stack: string[], opts: OverlayOptions, extra: string[]): Promise<void> {
  const all = [...stack, ...(opts.upper ? [resolve(opts.upper), resolve(opts.work!)] : [])];
  const cwd = commonParent(all);
  const rel = (p: string) => {
    const r = relative(cwd, p);
    return r.length < p.length ? r : p;
  };
  const parts = [`lowerdir=${stack.map((p) => escapeLegacy(rel(p))).join(":")}`];
  if (opts.upper)
    parts.push(`upperdir=${escapeLegacy(rel(all.at(-2)!))}`, `workdir=${escapeLegacy(rel(all.at(-1)!))}`);
  parts.push(...extra);
  const data = parts.join(",");
  if (data.length > 4095) {
    throw new OverlayError(
      `overlay stack of ${stack.length} layers needs ${data.length} bytes of mount options, more than the ` +
        "4095 the legacy mount API allows on this kernel (Linux 6.8+ lifts the limit via lowerdir+)",
      opts,
    );
  }
  await execFileP(
    "mount",
    ["-t", "overlay", "overlay", "-o", data, ...(opts.upper ? [] : ["-r"]), resolve(opts.target)],
    {
      cwd,
    },
  );
}

/**
 * Mount an overlay stack at `opts.target`. Lowers are given bottom first. With `upper`, the mount is
 * read-write and writes land in `upper`; without it, read-only.
 */
export async function mountOverlay(opts: OverlayOptions): Promise<OverlayMount> {
  if (opts.upper && !opts.work)
    throw new OverlayError("overlay: an upper directory needs a work directory", opts);
  if (opts.lowers.length > MAX_LOWER_LAYERS - 1) {
    throw new OverlayError(
      `overlay: ${opts.lowers.length} lower layers exceed the kernel limit of ${MAX_LOWER_LAYERS - 1}`,
      opts,
    );
  }
  const extra = layerMountOptions(inUserNamespace());
  const empty = needsEmptyLayer(opts) ? await emptyLayerFor(opts.target) : undefined;
  const removeEmpty = async () => {
    if (empty) await rmdir(empty).catch(() => undefined);
  };
  const stack = overlayStack(opts.lowers, empty);
  try {
    const useNew = forcedApi ? forcedApi === "new" : await kernelSupportsLowerdirAppend();
    if (useNew) await mountNewApi(stack, opts, extra);
    else await mountLegacy(stack, opts, extra);
  } catch (e) {
    await removeEmpty();
    if (e instanceof OverlayError) throw e;
    const err = e as { stderr?: string; message: string };
    throw new OverlayError(
      `mounting overlay at ${opts.target} (${opts.lowers.length} lower layers${opts.upper ? `, upper ${opts.upper}` : ", read-only"}) failed: ${(err.stderr || err.message).trim()}`,
      opts,
    );
  }
  let done = false;
  const target = resolve(opts.target);
  return {
    target,
    async unmount() {
      if (done) return;
      await unmountPath(target);
      await removeEmpty();
      done = true;
    },
  };
}

/** Unmount one mount point; retries a busy mount briefly, then detaches it lazily. */
export async function unmountPath(target: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await execFileP("umount", [target]);
      return;
    } catch (e) {
      const msg = String((e as { stderr?: string }).stderr ?? e);
      if (/not mounted|no mount point|not found/i.test(msg)) return;
      if (!/busy/i.test(msg)) break;
      await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
    }
  }
  await execFileP("umount", ["--lazy", target]).catch(() => undefined);
}

/** Mount the stack, run `fn` on the merged root, always unmount (also when `fn` throws). */
export async function withOverlay<T>(opts: OverlayOptions, fn: (root: string) => Promise<T>): Promise<T> {
  const mount = await mountOverlay(opts);
  try {
    return await fn(mount.target);
  } finally {
    await mount.unmount();
  }
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Mount points at or below `dir` in this mount namespace, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const base = resolve(dir);
  const info = await readFile("/proc/self/mountinfo", "utf8");
  const points = info
    .split("\n")
    .filter(Boolean)
    .map((line) => unescapeMountinfo(line.split(" ")[4] ?? ""))
    .filter((p) => p === base || p.startsWith(base + sep));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Unmount everything at or below `dir` (deepest first): cleanup after crashes or for scratch dirs. */
export async function unmountUnder(dir: string): Promise<void> {
  for (const p of await mountsUnder(dir)) await unmountPath(p);
}

/**
 * Copy a tree preserving everything (`cp -a --reflink=auto`: ownership, modes, xattrs, ACLs,
 * hardlinks, sparse files), the contents of `src` into `dest` (created if needed).
 */
export async function copyTree(src: string, dest: string, signal?: AbortSignal): Promise<void> {
  await mkdir(dest, { recursive: true });
  await execFileP(
    "cp",
    ["-a", "--reflink=auto", "--no-target-directory", `${resolve(src)}/.`, resolve(dest)],
    {
      signal,
      maxBuffer: 16 << 20,
    },
  );
}

/**
 * Flatten a layer stack (bottom first) into a plain directory: mounts it read-only at a scratch mount
 * point below `scratch` and copies the merged view into `dest`. Whiteouts and opaque markers are
 * resolved by overlayfs and never reach `dest`.
 */
export async function flattenStack(
  lowers: readonly string[],
  dest: string,
  scratch: string,
  signal?: AbortSignal,
): Promise<void> {
  const target = await mkdtemp(join(scratch, "flatten-"));
  try {
    await withOverlay({ lowers, target }, (root) => copyTree(root, dest, signal));
  } finally {
    await execFileP("rmdir", [target]).catch(() => undefined);
  }
}
