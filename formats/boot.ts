// Which images get the boot steps (kernel, initrd, UKI, bootloader) and which of them: the decisions
// formats make from the configuration while planning. Bootable=auto cannot look into the image before
// it is built, so it decides from the packages: an image that installs a kernel package is bootable.
// (A kernel that arrives another way, from an extra tree or a script, needs Bootable=yes.)
import { normalizeFormat } from "./naming.js";
import { definitionsUseVerity } from "./repart.js";

/** The slice of an image's config the decision reads. */
export interface BootConfig {
  Format: string;
  Bootable?: string | null;
  Bootloader?: string | null;
  BiosBootloader?: string | null;
  ShimBootloader?: string | null;
  Packages?: string[] | null;
  VolatilePackages?: string[] | null;
  Initrds?: string[] | null;
  SplitArtifacts?: string[] | null;
  RepartDirectories?: string[] | null;
  KernelCommandLine?: string[] | null;
  UnifiedKernelImages?: string | null;
}

/** Package names that install a kernel (Debian's and Ubuntu's; other distributions' for later). */
const KERNEL_PACKAGE =
  /^(linux-image-|linux-signed-image-|linux$|linux-generic|linux-virtual|kernel$|kernel-core$|kernel-default$)/;

export function installsKernelPackage(config: BootConfig): boolean {
  return [...(config.Packages ?? []), ...(config.VolatilePackages ?? [])].some((p) => KERNEL_PACKAGE.test(p));
}

/** grub as the EFI boot loader: made from the image's modules (grub) or the distribution's signed
 * binary (grub-signed); both read the ESP's grub/grub.cfg. */
export function isGrub(bootloader: string | null | undefined): boolean {
  return bootloader === "grub" || bootloader === "grub-signed";
}

/** The signed boot loader variants install only binaries the distribution signed. */
export function isSignedBootloader(bootloader: string | null | undefined): boolean {
  return !!bootloader?.endsWith("-signed");
}

/** With a signed boot loader (systemd-boot-signed, uki-signed, grub-signed), the UKIs are the image's
 * pre-built ones (/usr/lib/modules/<kver>/*.efi, as a distribution installs them), as upstream takes
 * them: none is built, so there is no default initrd, no kernel-modules initrd and nothing to sign.
 * UnifiedKernelImages=no keeps type 1 entries (or grub loading the kernel) instead. */
export function usesPrebuiltUkis(config: BootConfig): boolean {
  return isSignedBootloader(config.Bootloader) && config.UnifiedKernelImages !== "disabled";
}

/** Whether the image gets a kernel, initrd and bootloader at all (disk and esp only so far). */
export function wantsBoot(config: BootConfig): boolean {
  const format = normalizeFormat(config.Format);
  // The uki and esp formats are the image booted as its own initrd.
  if (format === "uki" || format === "esp") return true;
  if (format !== "disk") return false;
  if (config.Bootable === "disabled") return false;
  return config.Bootable === "enabled" || installsKernelPackage(config);
}

/** Whether the default initrd (an image of the graph built from mkosi-initrd) is needed. */
export function wantsDefaultInitrd(config: BootConfig): boolean {
  return (
    normalizeFormat(config.Format) === "disk" &&
    wantsBoot(config) &&
    (config.Initrds ?? []).length === 0 &&
    // grub on BIOS loads a kernel and initrds, which a pre-built UKI does not give it.
    (!usesPrebuiltUkis(config) || config.BiosBootloader === "grub")
  );
}

/** Whether the image itself is the initrd of its UKI (Format=uki, esp). */
export function imageIsInitrd(config: BootConfig): boolean {
  const format = normalizeFormat(config.Format);
  return format === "uki" || format === "esp";
}

/**
 * Whether the boot entries' command line needs the disk's partitions: a verity root hash (roothash=,
 * usrhash=); the literal root=PARTUUID or mount.usr=PARTUUID of KernelCommandLine=, replaced by the
 * partition's UUID; or a root=PARTUUID=… that grub's entries add when no EFI boot loader tells the initrd
 * where the root is (BIOS, or grub loading kernels without UKIs).
 */
export function cmdlineNamesPartitions(config: BootConfig): boolean {
  if (definitionsUseVerity(config.RepartDirectories ?? [])) return true;
  const words = (config.KernelCommandLine ?? []).join(" ").split(/\s+/);
  if (words.includes("root=PARTUUID") || words.includes("mount.usr=PARTUUID")) return true;
  if (config.BiosBootloader === "grub") return true;
  return isGrub(config.Bootloader) && config.UnifiedKernelImages === "disabled";
}

/** The boot steps, in order, of an image that wants boot. */
export function bootSteps(config: BootConfig): string[] {
  if (!wantsBoot(config)) return [];
  const steps = ["boot-scan", "kernel"];
  const loader = config.Bootloader ?? "systemd-boot";
  const format = normalizeFormat(config.Format);
  // With a UKI as the EFI boot loader, the bootloader step installs shim only (ShimBootloader=), which
  // loads the UKI as its second stage.
  const shim = usesShim(config.ShimBootloader);
  if (
    (format === "disk" || format === "esp") &&
    ((loader !== "none" && (!loader.startsWith("uki") || shim)) || config.BiosBootloader === "grub")
  )
    steps.push("bootloader");
  // A bootable disk is written in two passes, as upstream does: every partition but the ESP first, then
  // the ESP is added to a copy. The first pass does not read the boot entries, so a change of them (the
  // command line, the UKI) leaves it cached. The UKIs wait for it only when their command line names
  // the disk's partitions (roothash).
  if (format === "disk") {
    steps.push("repart-root");
    if (cmdlineNamesPartitions(config)) steps.push("roothash");
  }
  steps.push("uki");
  return steps;
}

/** The boot artifacts split out next to the output (SplitArtifacts= uki, kernel, initrd, pcrs), for an
 * image that has them. */
export function splitSteps(config: BootConfig): string[] {
  if (!wantsBoot(config)) return [];
  const split = (config.SplitArtifacts ?? []).filter((a) => BOOT_SPLIT_ARTIFACTS.includes(a));
  // Format=uki: the UKI is the output itself.
  return normalizeFormat(config.Format) === "uki" ? ["main", ...split.filter((a) => a !== "uki")] : split;
}

const BOOT_SPLIT_ARTIFACTS = ["uki", "kernel", "initrd", "pcrs"];

/** ShimBootloader= asks for shim in front of the EFI boot loader. */
export function usesShim(shimBootloader: string | null | undefined): boolean {
  return !!shimBootloader && shimBootloader !== "none";
}

/** Where a UKI that is the EFI boot loader (Bootloader=uki, uki-signed) goes in the ESP: the firmware's
 * default path, or shim's second stage when shim takes that path. */
export function ukiBootPath(architecture: string, shimBootloader: string | null | undefined): string {
  const arch = efiArch(architecture);
  return usesShim(shimBootloader) ? `EFI/BOOT/grub${arch}.efi` : `EFI/BOOT/BOOT${arch.toUpperCase()}.EFI`;
}

/** EFI architecture names (ukify's --efi-arch, the stub's and BOOT<ARCH>.EFI's suffix). */
const EFI_ARCH: Record<string, string> = {
  "x86-64": "x64",
  x86: "ia32",
  arm64: "aa64",
  arm: "arm",
  riscv64: "riscv64",
};

export function efiArch(architecture: string): string {
  const arch = EFI_ARCH[architecture];
  if (!arch) throw new Error(`Architecture=${architecture} has no EFI architecture`);
  return arch;
}

/** The addon stub's path below a root (Format=addon, UKI profiles). */
export function addonStub(architecture: string): string {
  return `usr/lib/systemd/boot/efi/addon${efiArch(architecture)}.efi.stub`;
}
