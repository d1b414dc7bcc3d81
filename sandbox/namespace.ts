// The mount namespace a build runs in. bin/mkosi starts the CLI in a namespace of its own where it can (as
// root), and the unprivileged re-execution enters one with its user namespace (userns.ts): there, the
// overlay mounts of a build are private and die with it, even after SIGKILL.
//
// In its own namespace, a build also makes the host's system directories read-only for itself, as upstream
// does for root builds: /etc, /opt, /boot, /efi, /media and /usr (and everything mounted below them), except
// those that hold a directory the build writes to (caches, outputs, the configuration). Steps that run host
// programs outside the sandbox then cannot change the host's /usr, and every sandbox binds the read-only
// view. (A sandboxed command keeps all capabilities as root, as in upstream, so a script that remounts
// /usr read-write on purpose is not stopped; nothing mkosi runs does.)
import { execFile } from "node:child_process";
import { lstatSync, readlinkSync, realpathSync } from "node:fs";
import { dirname, resolve, sep } from "node:path";
import { promisify } from "node:util";

const execFileP = promisify(execFile);

/** Set by bin/mkosi (and the user-namespace re-execution) to the namespace mkosi was started from. */
export const OUTER_MOUNT_NAMESPACE_ENV = "MKOSI_OUTER_MOUNT_NAMESPACE";

/** The mount namespace of this process, as /proc names it (`mnt:[…]`). */
export function currentMountNamespace(): string | undefined {
  try {
    return readlinkSync("/proc/self/ns/mnt");
  } catch {
    return undefined;
  }
}

/** Does this process run in a mount namespace that mkosi made for itself? Only then may it change mounts
 * that are not its own scratch mounts: anywhere else the change would reach the caller. */
export function inOwnMountNamespace(): boolean {
  const outer = process.env[OUTER_MOUNT_NAMESPACE_ENV];
  const current = currentMountNamespace();
  return outer !== undefined && current !== undefined && outer !== current;
}

/** The host directories a build makes read-only (upstream's list); /boot and /efi also lose suid, device
 * nodes and execution. */
export const PROTECTED_HOST_DIRECTORIES = ["/etc", "/opt", "/boot", "/efi", "/media", "/usr"] as const;

/** `path` with symlinks resolved as far as it exists (what it will be once created). */
function realish(path: string): string {
  let p = resolve(path);
  const rest: string[] = [];
  for (;;) {
    try {
      return resolve(realpathSync(p), ...rest.reverse());
    } catch {
      const parent = dirname(p);
      if (parent === p) return resolve(path);
      rest.push(p.slice(parent === "/" ? 1 : parent.length + 1));
      p = parent;
    }
  }
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir + sep);
}

/** Which of the protected directories to make read-only when the build writes to `writable`. */
export function directoriesToProtect(writable: readonly string[]): { path: string; attrs: number }[] {
  const keep = writable.map(realish);
  const out: { path: string; attrs: number }[] = [];
  for (const dir of PROTECTED_HOST_DIRECTORIES) {
    const st = lstatSync(dir, { throwIfNoEntry: false });
    if (!st?.isDirectory()) continue;
    if (keep.some((p) => within(p, dir))) continue;
    // MOUNT_ATTR_RDONLY, and for the boot partitions MOUNT_ATTR_NOSUID | NODEV | NOEXEC.
    out.push({ path: dir, attrs: dir === "/boot" || dir === "/efi" ? 0x1 | 0x2 | 0x4 | 0x8 : 0x1 });
  }
  return out;
}

// open_tree(428) with OPEN_TREE_CLONE | AT_RECURSIVE, mount_setattr(442) on the whole tree, move_mount(429)
// back onto the same path: a recursive read-only bind mount of the directory over itself (Linux 5.12+).
const READ_ONLY_PERL = String.raw`
use strict; use warnings;
my $empty = "";
while (@ARGV) {
  my ($path, $attrs) = splice(@ARGV, 0, 2);
  my $fd = syscall(428, -100, $path, 0x1 | 0x8000 | 0x80000);
  die "open_tree $path: $!\n" if $fd < 0;
  my $attr = pack("QQQQ", $attrs, 0, 0, 0);
  syscall(442, $fd, $empty, 0x1000 | 0x8000, $attr, 32) == 0 or die "mount_setattr $path: $!\n";
  syscall(429, $fd, $empty, -100, $path, 4) == 0 or die "move_mount $path: $!\n";
}
`;

/**
 * In mkosi's own mount namespace: make the protected host directories read-only (see above), keeping
 * those that contain one of `writable`. Does nothing (and returns []) anywhere else. Returns the
 * directories made read-only.
 */
export async function protectHostDirectories(writable: readonly string[]): Promise<string[]> {
  if (!inOwnMountNamespace()) return [];
  const dirs = directoriesToProtect(writable);
  if (dirs.length === 0) return [];
  try {
    await execFileP("perl", ["-e", READ_ONLY_PERL, ...dirs.flatMap((d) => [d.path, String(d.attrs)])]);
  } catch (e) {
    // Kernels before 5.12 (no mount_setattr): a bind mount over itself, remounted read-only.
    const first = String((e as { stderr?: string }).stderr ?? e);
    try {
      for (const d of dirs) {
        await execFileP("mount", ["--rbind", d.path, d.path]);
        const flags = d.attrs === 0x1 ? "ro" : "ro,nosuid,nodev,noexec";
        await execFileP("mount", ["-o", `remount,bind,${flags}`, d.path]);
      }
    } catch (e2) {
      const second = String((e2 as { stderr?: string }).stderr ?? e2);
      throw new Error(
        `could not make the host's ${dirs.map((d) => d.path).join(", ")} read-only for the build: ${first.trim()}; ${second.trim()}`,
      );
    }
  }
  return dirs.map((d) => d.path);
}
