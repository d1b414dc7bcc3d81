// Enumerations used by settings. Values are the exact strings mkosi accepts and prints in JSON.
import {
  DISTRIBUTIONS as DISTRIBUTION_MODULES,
  DISTRIBUTION_NAMES,
  type DistributionName,
  isAptDistribution,
  isRpmDistribution,
  type PackageType,
  packageTypeOf,
} from "../distros/index.js";

/** Distribution names, in the man page's order; each distribution's facts live in its module in distros/. */
export const DISTRIBUTIONS: readonly DistributionName[] = DISTRIBUTION_NAMES;

export const ARCHITECTURES = [
  "alpha",
  "arc",
  "arm",
  "arm64",
  "ia64",
  "loongarch64",
  "mips64-le",
  "mips-le",
  "parisc",
  "ppc",
  "ppc64",
  "ppc64-le",
  "riscv32",
  "riscv64",
  "s390",
  "s390x",
  "tilegx",
  "x86",
  "x86-64",
] as const;

// The output formats are the formats room's list (one source of truth for Format= values).
export { FORMATS as OUTPUT_FORMATS } from "../formats/types.js";

export const MANIFEST_FORMATS = ["json", "changelog"] as const;
export const BOOTLOADERS = [
  "none",
  "uki",
  "systemd-boot",
  "grub",
  "uki-signed",
  "systemd-boot-signed",
  "grub-signed",
] as const;
export const BIOS_BOOTLOADERS = ["none", "grub"] as const;
export const SHIM_BOOTLOADERS = ["none", "signed", "unsigned"] as const;
export const SSH_MODES = ["always", "auto", "runtime", "never"] as const;
export const SECURE_BOOT_SIGN_TOOLS = ["auto", "sbsign", "systemd-sbsign"] as const;
export const VERITY_MODES = ["disabled", "hash", "signed", "defer", "auto"] as const;
export const INCREMENTAL_MODES = ["yes", "no", "strict"] as const;
export const CACHE_ONLY_MODES = ["always", "auto", "metadata", "never"] as const;
export const BUILD_SOURCES_EPHEMERAL = ["yes", "no", "buildcache"] as const;
export const NETWORK_MODES = ["interface", "user", "none"] as const;
export const VMMS = ["qemu", "vmspawn"] as const;
export const CONSOLE_MODES = ["interactive", "read-only", "native", "gui"] as const;
export const FIRMWARES = ["uefi", "uefi-secure-boot", "bios", "linux", "linux-noinitrd", "auto"] as const;
export const SPLIT_ARTIFACTS = [
  "uki",
  "kernel",
  "initrd",
  "partitions",
  "tar",
  "pcrs",
  "roothash",
  "os-release",
] as const;
export type SplitArtifact = (typeof SPLIT_ARTIFACTS)[number];
export const SPLIT_ARTIFACTS_DEFAULT: readonly SplitArtifact[] = ["uki", "kernel", "initrd"];
export const SPLIT_ARTIFACTS_YES: readonly SplitArtifact[] = ["uki", "kernel", "initrd", "partitions"];

/** Compression by member name (aliases included) → canonical value. */
export const COMPRESSIONS: Record<string, string> = {
  none: "none",
  zstd: "zstd",
  zst: "zstd",
  xz: "xz",
  bz2: "bz2",
  gz: "gz",
  gzip: "gz",
  lz4: "lz4",
  lzma: "lzma",
};

export const DOC_FORMATS = ["auto", "markdown", "man", "pandoc", "system"] as const;

export const VERBS = [
  "build",
  "clean",
  "summary",
  "cat-config",
  "shell",
  "boot",
  "vm",
  "qemu",
  "ssh",
  "serve",
  "bump",
  "help",
  "genkey",
  "documentation",
  "journalctl",
  "coredumpctl",
  "burn",
  "dependencies",
  "completion",
  "sysupdate",
  "sandbox",
  "init",
  // Ours: the planned pipeline, what will run and why.
  "graph",
] as const;
export type Verb = (typeof VERBS)[number];

/** Verbs that accept extra arguments after the verb. */
export const VERBS_WITH_CMDLINE: ReadonlySet<string> = new Set([
  "build",
  "shell",
  "boot",
  "vm",
  "qemu",
  "ssh",
  "journalctl",
  "coredumpctl",
  "burn",
  "sysupdate",
  "sandbox",
  "dependencies",
  "documentation",
  "completion",
]);

/** Verbs that need a built image (so they build or check for one). */
export const BUILD_VERBS: ReadonlySet<string> = new Set([
  "build",
  "shell",
  "boot",
  "vm",
  "qemu",
  "serve",
  "burn",
  "sysupdate",
]);

/** Per-distribution facts the config system needs (a view of the distribution modules). */
export interface DistroInfo {
  defaultRelease: string;
  filesystem: string;
  toolsTreeDistribution: string;
  packageType: PackageType;
}

export const DISTRO_INFO: Readonly<Record<string, DistroInfo>> = Object.fromEntries(
  DISTRIBUTION_NAMES.map((name) => {
    const d = DISTRIBUTION_MODULES[name];
    return [
      name,
      {
        defaultRelease: d.defaultRelease,
        filesystem: d.filesystem,
        toolsTreeDistribution: d.toolsTreeDistribution,
        packageType: packageTypeOf(name),
      },
    ];
  }),
);

export const APT_DISTRIBUTIONS: ReadonlySet<string> = new Set(DISTRIBUTION_NAMES.filter(isAptDistribution));
export const RPM_DISTRIBUTIONS: ReadonlySet<string> = new Set(DISTRIBUTION_NAMES.filter(isRpmDistribution));

/** Map from Node's process.arch to mkosi architecture names. */
export function nativeArchitecture(): string {
  const env = process.env.MKOSI_HOST_ARCHITECTURE;
  if (env) return env;
  switch (process.arch) {
    case "x64":
      return "x86-64";
    case "ia32":
      return "x86";
    case "arm64":
      return "arm64";
    case "arm":
      return "arm";
    case "ppc64":
      return "ppc64-le";
    case "s390x":
      return "s390x";
    case "riscv64":
      return "riscv64";
    case "loong64":
      return "loongarch64";
    case "mips":
      return "mips-le";
    case "mipsel":
      return "mips-le";
    default:
      return "x86-64";
  }
}
