// [Content] settings.
import { BIOS_BOOTLOADERS, BOOTLOADERS, SHIM_BOOTLOADERS, SSH_MODES } from "../enums.js";
import { ConfigError } from "../errors.js";
import { parsePathValue } from "../paths.js";
import {
  itemParser,
  kernelModuleFilterItem,
  makeListParser,
  parseBoolean,
  parseFeature,
  parseFilename,
  parseRootPassword,
  parseSourceDateEpoch,
  parseString,
  parseUuid,
  UKI_PROFILE,
} from "../values.js";
import { def, enumOf, list, matchFeature, path, pathList, shadowed, treeList } from "./common.js";
import type { Setting } from "./types.js";

const scriptList = <const N extends string>(
  name: N,
  long: string,
  suffixes: string[],
  recursive: string[],
  extra = {},
) =>
  def(name, "Content", "local", "list", pathList(), {
    long: [long],
    paths: suffixes,
    recursivePaths: recursive,
    metavar: "PATH",
    ...extra,
  });

const ukiProfileList = makeListParser({
  item: itemParser(UKI_PROFILE, (value, env) => {
    const p = parsePathValue(value, env);
    if (!env.parseUkiProfile) throw new ConfigError("UKI profiles cannot be parsed here");
    return env.parseUkiProfile(p, env);
  }),
});

/** The reference's SourceDateEpoch= default: $SOURCE_DATE_EPOCH of mkosi's own environment (it
 * means to look at Environment= too, but compares its names with "SOURCE_DATE_EPOCH=", which no
 * name matches). */
function sourceDateEpochFromEnv(env: Record<string, string | undefined>) {
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === "") return null;
  return parseSourceDateEpoch(v, null, { cwd: "/", env: {}, warn: () => {} });
}

export const CONTENT_SETTINGS = [
  def("Packages", "Content", "local", "list", list({ sortPackages: true }), {
    tools: true,
    short: "p",
    long: ["package"],
    help: "Add an additional package to the OS image",
    metavar: "PACKAGE",
  }),
  def("BuildPackages", "Content", "local", "list", list({ sortPackages: true }), {
    long: ["build-package"],
    help: "Additional packages needed for build scripts",
    metavar: "PACKAGE",
  }),
  def("VolatilePackages", "Content", "local", "list", list({ sortPackages: true }), {
    long: ["volatile-package"],
    help: "Packages to install after executing build scripts",
    metavar: "PACKAGE",
  }),
  def("PackageDirectories", "Content", "universal", "list", pathList(), {
    tools: true,
    long: ["package-directory"],
    paths: ["packages"],
    help: "Specify a directory containing extra packages",
    metavar: "PATH",
  }),
  def("VolatilePackageDirectories", "Content", "universal", "list", pathList(), {
    long: ["volatile-package-directory"],
    help: "Specify a directory containing extra volatile packages",
    metavar: "PATH",
  }),
  def("WithRecommends", "Content", "local", "value", parseBoolean, {
    help: "Install recommended packages",
    metavar: "BOOL",
  }),
  def("WithDocs", "Content", "local", "value", parseBoolean, {
    default: true,
    help: "Install documentation",
    metavar: "BOOL",
  }),
  def("BaseTrees", "Content", "local", "list", pathList({ required: false }), {
    long: ["base-tree"],
    help: "Use the given tree as base tree (e.g. lower sysext layer)",
    metavar: "PATH",
  }),
  def("SkeletonTrees", "Content", "local", "list", treeList({ required: true }), {
    long: ["skeleton-tree"],
    paths: ["skeleton", "skeleton.tar"],
    help: "Use a skeleton tree to bootstrap the image before installing anything",
    metavar: "PATH",
  }),
  def("ExtraTrees", "Content", "local", "list", treeList({ required: false }), {
    long: ["extra-tree"],
    paths: ["extra", "extra.tar"],
    help: "Copy an extra tree on top of image",
    metavar: "PATH",
  }),
  def("RemovePackages", "Content", "local", "list", list(), {
    long: ["remove-package"],
    help: "Remove package from the image OS image after installation",
    metavar: "PACKAGE",
  }),
  def("RemoveFiles", "Content", "local", "list", list(), {
    help: "Remove files from built image",
    metavar: "GLOB",
  }),
  def("CleanPackageMetadata", "Content", "local", "value", parseFeature, {
    help: "Remove package manager database and other files",
    metavar: "FEATURE",
  }),
  def("SourceDateEpoch", "Content", "multiversal", "optional", parseSourceDateEpoch, {
    defaultFactory: (c) => sourceDateEpochFromEnv(c.env),
    help: "Set the $SOURCE_DATE_EPOCH timestamp",
    metavar: "TIMESTAMP",
  }),
  scriptList("SyncScripts", "sync-script", ["sync"], ["sync.d/*"], {
    tools: true,
    help: "Sync script to run before starting the build",
  }),
  scriptList("PrepareScripts", "prepare-script", ["prepare", "prepare.chroot"], ["prepare.d/*"], {
    tools: true,
    compatNames: ["PrepareScript"],
    help: "Prepare script to run inside the image before it is cached",
  }),
  scriptList("BuildScripts", "build-script", ["build", "build.chroot"], ["build.d/*"], {
    compatNames: ["BuildScript"],
    help: "Build script to run inside image",
  }),
  scriptList(
    "PostInstallationScripts",
    "postinst-script",
    ["postinst", "postinst.chroot"],
    ["postinst.d/*"],
    {
      dest: "postinst_scripts",
      compatNames: ["PostInstallationScript"],
      help: "Postinstall script to run inside image",
    },
  ),
  scriptList("FinalizeScripts", "finalize-script", ["finalize", "finalize.chroot"], ["finalize.d/*"], {
    compatNames: ["FinalizeScript"],
    help: "Postinstall script to run outside image",
  }),
  scriptList("PostOutputScripts", "postoutput-script", ["postoutput"], ["postoutput.d/*"], {
    dest: "postoutput_scripts",
    help: "Output postprocessing script to run outside image",
  }),
  def("Bootable", "Content", "local", "value", parseFeature, {
    match: matchFeature,
    help: "Generate ESP partition with systemd-boot and UKIs for installed kernels",
    metavar: "FEATURE",
  }),
  def("Bootloader", "Content", "local", "value", enumOf("Bootloader", BOOTLOADERS), {
    default: "systemd-boot",
    choices: BOOTLOADERS,
    help: "Specify which UEFI bootloader to use",
    metavar: "BOOTLOADER",
  }),
  def("BiosBootloader", "Content", "local", "value", enumOf("BiosBootloader", BIOS_BOOTLOADERS), {
    default: "none",
    choices: BIOS_BOOTLOADERS,
    help: "Specify which BIOS bootloader to use",
    metavar: "BOOTLOADER",
  }),
  def("ShimBootloader", "Content", "local", "value", enumOf("ShimBootloader", SHIM_BOOTLOADERS), {
    default: "none",
    choices: SHIM_BOOTLOADERS,
    help: "Specify whether to use shim",
    metavar: "BOOTLOADER",
  }),
  def("UnifiedKernelImages", "Content", "local", "value", parseFeature, {
    help: "Specify whether to use UKIs with grub/systemd-boot in UEFI mode",
    metavar: "FEATURE",
  }),
  def("UnifiedKernelImageFormat", "Content", "local", "optional", parseFilename, {
    help: "Specify the format used for the UKI filename",
    metavar: "FORMAT",
  }),
  def("UnifiedKernelImageProfiles", "Content", "local", "list", ukiProfileList, {
    long: ["uki-profile"],
    recursivePaths: ["uki-profiles/*.conf"],
    help: "Configuration files to generate UKI profiles",
    metavar: "PATH",
  }),
  def("Initrds", "Content", "local", "list", pathList({ required: false }), {
    long: ["initrd"],
    help: "Add a user-provided initrd to image",
    metavar: "PATH",
  }),
  def("MicrocodeHost", "Content", "local", "value", parseBoolean, {
    default: false,
    help: "Only include the host CPU's microcode",
    metavar: "BOOL",
  }),
  def("InitrdProfiles", "Content", "local", "list", list(), {
    long: ["initrd-profile"],
    default: [],
    help: "Which profiles to enable for the default initrd",
    metavar: "PROFILE",
  }),
  def("InitrdPackages", "Content", "local", "list", list(), {
    long: ["initrd-package"],
    help: "Add additional packages to the default initrd",
    metavar: "PACKAGE",
  }),
  def("InitrdVolatilePackages", "Content", "local", "list", list(), {
    long: ["initrd-volatile-package"],
    help: "Packages to install in the initrd that are not cached",
    metavar: "PACKAGE",
  }),
  def("Devicetree", "Content", "local", "optional", parseString, {
    help: "Devicetree to be used by the booting kernel",
    metavar: "PATH",
  }),
  def("Splash", "Content", "local", "optional", path({ required: false, absolute: true }), {
    help: "Splash screen image to be used by the booting kernel",
    metavar: "PATH",
  }),
  def("KernelCommandLine", "Content", "local", "list", list({ delimiter: " " }), {
    help: "Set the kernel command line (only bootable images)",
    metavar: "OPTIONS",
  }),
  shadowed(
    def("KernelModulesInclude", "Content", "local", "list", list({ item: kernelModuleFilterItem }), {
      help: "Include the specified kernel modules in the image",
      metavar: "REGEX",
    }),
  ),
  def("KernelModulesExclude", "Content", "local", "list", list({ item: kernelModuleFilterItem }), {
    help: "Exclude the specified kernel modules from the image",
    metavar: "REGEX",
  }),
  def("KernelModules", "Content", "local", "list", list(), {
    dest: "kernel_modules_include",
    long: ["kernel-modules"],
    help: "Kernel modules to include in the image (globs, prefix with - to exclude)",
    metavar: "GLOB",
  }),
  def("KernelModulesIncludeHost", "Content", "local", "value", parseBoolean, {
    help: "Include the currently loaded modules on the host in the image",
    metavar: "BOOL",
  }),
  def("KernelModulesInitrd", "Content", "local", "value", parseBoolean, {
    default: true,
    help: "When building a bootable image, add an extra initrd containing the kernel modules",
    metavar: "BOOL",
  }),
  shadowed(
    def("KernelModulesInitrdInclude", "Content", "local", "list", list({ item: kernelModuleFilterItem }), {
      help: "When building a kernel modules initrd, include the specified kernel modules",
      metavar: "REGEX",
    }),
  ),
  def("KernelModulesInitrdExclude", "Content", "local", "list", list({ item: kernelModuleFilterItem }), {
    help: "When building a kernel modules initrd, exclude the specified kernel modules",
    metavar: "REGEX",
  }),
  def("KernelInitrdModules", "Content", "local", "list", list(), {
    dest: "kernel_modules_initrd_include",
    long: ["kernel-initrd-modules"],
    help: "Kernel modules to include in the kernel modules initrd (globs)",
    metavar: "GLOB",
  }),
  def("KernelModulesInitrdIncludeHost", "Content", "local", "value", parseBoolean, {
    help: "When building a kernel modules initrd, include the currently loaded modules on the host",
    metavar: "BOOL",
  }),
  shadowed(
    def("FirmwareInclude", "Content", "local", "list", list({ item: kernelModuleFilterItem }), {
      help: "Include the specified firmware in the image",
      metavar: "REGEX",
    }),
  ),
  def("FirmwareExclude", "Content", "local", "list", list({ item: kernelModuleFilterItem }), {
    help: "Exclude the specified firmware from the image",
    metavar: "REGEX",
  }),
  def("FirmwareFiles", "Content", "local", "list", list(), {
    dest: "firmware_include",
    long: ["firmware-files"],
    help: "Firmware files to include in the image (globs)",
    metavar: "GLOB",
  }),
  def("Locale", "Content", "local", "optional", parseString, {
    help: "Set the system locale",
    metavar: "LOCALE",
  }),
  def("LocaleMessages", "Content", "local", "optional", parseString, {
    help: "Set the messages locale",
    metavar: "LOCALE",
  }),
  def("Keymap", "Content", "local", "optional", parseString, {
    help: "Set the system keymap",
    metavar: "KEYMAP",
  }),
  def("Timezone", "Content", "local", "optional", parseString, {
    help: "Set the system timezone",
    metavar: "TIMEZONE",
  }),
  def("Hostname", "Content", "local", "optional", parseString, {
    help: "Set the system hostname",
    metavar: "HOSTNAME",
  }),
  def("RootPassword", "Content", "local", "optional", parseRootPassword, {
    paths: ["rootpw"],
    readText: true,
    secret: true,
    help: "Set the password for root",
    metavar: "PASSWORD",
  }),
  def("RootShell", "Content", "local", "optional", parseString, {
    help: "Set the shell for root",
    metavar: "SHELL",
  }),
  def("MachineId", "Content", "local", "optional", parseUuid, {
    paths: ["machine-id"],
    readText: true,
    help: "Set the machine ID to use",
    metavar: "MACHINE_ID",
  }),
  def("Autologin", "Content", "local", "value", parseBoolean, {
    short: "a",
    shortConst: "yes",
    help: "Enable root autologin",
    metavar: "BOOL",
  }),
  def("MakeInitrd", "Content", "local", "value", parseBoolean, {
    help: "Make sure the image can be used as an initramfs",
    metavar: "BOOL",
  }),
  def("Ssh", "Content", "local", "value", enumOf("Ssh", SSH_MODES, { yes: "always", no: "never" }), {
    default: "auto",
    choices: SSH_MODES,
    help: "Set up SSH access from the host to the final image via 'mkosi ssh'",
    metavar: "MODE",
  }),
  def("SELinuxRelabel", "Content", "local", "value", parseFeature, {
    long: ["selinux-relabel"],
    help: "Specify whether to relabel all files with setfiles",
    metavar: "FEATURE",
  }),
] as const satisfies readonly Setting[];
