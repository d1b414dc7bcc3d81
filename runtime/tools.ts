// Host programs the runtime verbs start, and the Debian package that provides each: a missing program is
// reported with the package to install instead of a bare ENOENT.
import { accessSync, constants, existsSync } from "node:fs";
import { join } from "node:path";

/** Program → Debian package (bookworm names). */
export const TOOL_PACKAGES: Record<string, string> = {
  "systemd-nspawn": "systemd-container",
  "systemd-run": "systemd",
  "systemd-vmspawn": "systemd-container (v256 or newer, e.g. from a tools tree)",
  "qemu-system-x86_64": "qemu-system-x86",
  "qemu-system-aarch64": "qemu-system-arm",
  "qemu-img": "qemu-utils",
  swtpm: "swtpm",
  swtpm_setup: "swtpm-tools",
  virtiofsd: "qemu-system-common (bookworm) or virtiofsd (trixie and later)",
  ssh: "openssh-client",
  "ssh-keygen": "openssh-client",
  journalctl: "systemd",
  coredumpctl: "systemd-coredump",
  "systemd-sysupdate": "systemd (v257 or newer, e.g. from a tools tree)",
  "systemd-storagetm": "systemd (v254 or newer, e.g. from a tools tree)",
  "systemd-repart": "systemd-repart",
  openssl: "openssl",
  sfdisk: "fdisk",
  losetup: "mount",
  findmnt: "mount",
  lsblk: "util-linux",
  unshare: "util-linux",
  setpriv: "util-linux",
  bwrap: "bubblewrap",
  mcopy: "mtools",
  "mkfs.vfat": "dosfstools",
  "mkfs.ext4": "e2fsprogs",
  pandoc: "pandoc",
  man: "man-db",
};

/** Where a missing program may still live although it is not on $PATH (Debian's private directories). */
const EXTRA_DIRS: Record<string, string[]> = {
  virtiofsd: ["/usr/libexec", "/usr/lib/qemu"],
  "systemd-ssh-proxy": ["/usr/lib/systemd"],
  "systemd-sysupdate": ["/usr/lib/systemd"],
};

export class MissingToolError extends Error {
  constructor(readonly tool: string) {
    const pkg = TOOL_PACKAGES[tool];
    super(`${tool} is not installed${pkg ? `: install the Debian package ${pkg}` : ""}`);
    this.name = "MissingToolError";
  }
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The program's path on $PATH (or in `root`'s /usr when a tools tree is given), else null. */
export function findTool(name: string, root?: string | null): string | null {
  const dirs = root
    ? ["usr/bin", "usr/sbin", ...(EXTRA_DIRS[name] ?? []).map((d) => d.slice(1))].map((d) => join(root, d))
    : [
        ...(process.env.PATH ?? "/usr/bin:/bin").split(":"),
        "/usr/sbin",
        "/sbin",
        ...(EXTRA_DIRS[name] ?? []),
      ];
  for (const dir of dirs) {
    const candidate = join(dir || ".", name);
    if (existsSync(candidate) && executable(candidate)) return candidate;
  }
  return null;
}

/** Like findTool, but a missing program is an error that names its Debian package. */
export function requireTool(name: string, root?: string | null): string {
  const found = findTool(name, root);
  if (!found) throw new MissingToolError(name);
  return found;
}
