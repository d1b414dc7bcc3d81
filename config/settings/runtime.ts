// [Runtime] settings (all "main" scope).
import { CONSOLE_MODES, FIRMWARES, NETWORK_MODES, VMMS } from "../enums.js";
import {
  driveItem,
  makeDictParser,
  makeListParser,
  type Parser,
  parseBoolean,
  parseBytes,
  parseFeature,
  parseKeyValueItem,
  parseNumber,
  parseString,
  parseVsockCid,
} from "../values.js";
import { def, enumOf, list, path, treeList } from "./common.js";
import type { Kind, Setting } from "./types.js";

const rt = <const N extends string, const K extends Kind, T>(
  name: N,
  kind: K,
  parse: Parser<T>,
  extra: Parameters<typeof def>[5] = {},
) => def(name, "Runtime", "main", kind, parse, extra);

export const RUNTIME_SETTINGS = [
  rt("NSpawnSettings", "optional", path(), {
    long: ["settings"],
    paths: ["nspawn"],
    help: "Add in .nspawn settings file",
    metavar: "PATH",
  }),
  rt("Ephemeral", "value", parseBoolean, {
    help: "If specified, the container/VM is run with a temporary snapshot of the output image",
    metavar: "BOOL",
  }),
  rt(
    "Credentials",
    "dict",
    makeDictParser({ delimiter: " ", unescape: true, item: parseKeyValueItem, allowPaths: true }),
    {
      long: ["credential"],
      paths: ["credentials"],
      help: "Pass a systemd credential to a systemd-nspawn container or a virtual machine",
      metavar: "NAME=VALUE",
    },
  ),
  rt("KernelCommandLineExtra", "list", list({ delimiter: " " }), {
    help: "Append extra entries to the kernel command line when booting the image",
    metavar: "OPTIONS",
  }),
  rt("RuntimeTrees", "list", treeList({ required: false, relativeTarget: true }), {
    long: ["runtime-tree"],
    help: "Additional mounts to add when booting the image",
    metavar: "SOURCE:[TARGET]",
  }),
  rt("RuntimeSize", "optional", parseBytes, {
    help: "Grow disk images to the specified size before booting them",
    metavar: "SIZE",
  }),
  rt("RuntimeScratch", "value", parseFeature, {
    help: "Mount extra scratch space to /var/tmp",
    metavar: "FEATURE",
  }),
  rt("RuntimeNetwork", "value", enumOf("Network", NETWORK_MODES), {
    default: "user",
    choices: NETWORK_MODES,
    help: "Set networking backend to use when booting the image",
    metavar: "NET",
  }),
  rt("RuntimeBuildSources", "value", parseBoolean, {
    help: "Mount build sources and build directory in /work when booting the image",
    metavar: "BOOL",
  }),
  rt("RuntimeHome", "value", parseBoolean, {
    help: "Mount current home directory to /root when booting the image",
    metavar: "BOOL",
  }),
  rt("UnitProperties", "list", list({ delimiter: " ", unescape: true }), {
    long: ["unit-property"],
    help: "Set properties on the scopes spawned by systemd-nspawn or systemd-run",
    metavar: "PROPERTY",
  }),
  rt("SshKey", "optional", path({ secret: true }), {
    paths: ["key"],
    help: "Private key for use with mkosi ssh in PEM format",
    metavar: "PATH",
  }),
  rt("SshCertificate", "optional", path(), {
    paths: ["crt"],
    help: "Certificate for use with mkosi ssh in X509 format",
    metavar: "PATH",
  }),
  rt("VirtualMachineMonitor", "value", enumOf("Vmm", VMMS), {
    dest: "vmm",
    long: ["vmm"],
    default: "qemu",
    choices: VMMS,
    help: "Set the virtual machine monitor to use for mkosi vm",
    metavar: "VMM",
  }),
  rt("Machine", "optional", parseString, {
    help: "Set the machine name to use when booting the image",
    metavar: "NAME",
  }),
  rt("ForwardJournal", "optional", path({ required: false }), {
    help: "Set the path used to store forwarded machine journals",
    metavar: "PATH",
  }),
  rt("SysupdateDirectory", "optional", path(), {
    dest: "sysupdate_dir",
    long: ["sysupdate-directory", "sysupdate-dir"],
    paths: ["sysupdate"],
    help: "Directory containing systemd-sysupdate transfer definitions",
    metavar: "PATH",
  }),
  rt("Console", "value", enumOf("ConsoleMode", CONSOLE_MODES), {
    default: "native",
    choices: CONSOLE_MODES,
    help: "Configure the virtual machine console mode to use",
    metavar: "MODE",
  }),
  rt("CPUs", "value", parseNumber, {
    dest: "cpus",
    long: ["cpus", "qemu-smp"],
    compatNames: ["QemuSmp"],
    default: 1,
    help: "Configure number of CPUs in virtual machine",
    metavar: "CPUS",
  }),
  rt("RAM", "value", parseBytes, {
    dest: "ram",
    long: ["ram", "qemu-mem"],
    compatNames: ["QemuMem"],
    default: 2147483648,
    help: "Configure guest's RAM size",
    metavar: "BYTES",
  }),
  rt("KVM", "value", parseFeature, {
    dest: "kvm",
    long: ["kvm", "qemu-kvm"],
    compatNames: ["QemuKvm"],
    help: "Configure whether to use KVM or not",
    metavar: "FEATURE",
  }),
  rt("VSock", "value", parseFeature, {
    dest: "vsock",
    long: ["vsock", "qemu-vsock"],
    compatNames: ["QemuVsock"],
    help: "Configure whether to use vsock or not",
    metavar: "FEATURE",
  }),
  rt("VSockCID", "value", parseVsockCid, {
    dest: "vsock_cid",
    long: ["vsock-cid", "qemu-vsock-cid"],
    compatNames: ["QemuVsockConnectionId"],
    default: -1,
    help: "Specify the vsock connection ID to use",
    metavar: "NUMBER|auto|hash",
  }),
  rt("TPM", "value", parseFeature, {
    dest: "tpm",
    long: ["tpm", "qemu-swtpm"],
    compatNames: ["QemuSwtpm"],
    help: "Configure whether to use a virtual tpm or not",
    metavar: "FEATURE",
  }),
  rt("CDROM", "value", parseBoolean, {
    dest: "cdrom",
    long: ["cdrom", "qemu-cdrom"],
    compatNames: ["QemuCdrom"],
    help: "Attach the image as a CD-ROM to the virtual machine",
    metavar: "BOOLEAN",
  }),
  rt("Removable", "value", parseBoolean, {
    long: ["removable", "qemu-removable"],
    compatNames: ["QemuRemovable"],
    help: "Attach the image as a removable drive to the virtual machine",
    metavar: "BOOLEAN",
  }),
  rt("Firmware", "value", enumOf("Firmware", FIRMWARES), {
    long: ["firmware", "qemu-firmware"],
    compatNames: ["QemuFirmware"],
    default: "auto",
    choices: FIRMWARES,
    help: "Set the virtual machine firmware",
    metavar: "FIRMWARE",
  }),
  rt("FirmwareVariables", "optional", path({ constants: ["custom", "microsoft", "microsoft-mok"] }), {
    long: ["firmware-variables", "qemu-firmware-variables"],
    compatNames: ["QemuFirmwareVariables"],
    help: "Set the path to the firmware variables file to use",
    metavar: "PATH",
  }),
  rt("Linux", "optional", parseString, {
    long: ["linux", "qemu-kernel"],
    compatNames: ["QemuKernel"],
    help: "Specify the kernel to use for direct kernel boot",
    metavar: "PATH",
  }),
  rt("Drives", "list", makeListParser({ delimiter: " ", item: driveItem }), {
    long: ["drive", "qemu-drive"],
    compatNames: ["QemuDrives"],
    help: "Specify drive that mkosi should create and pass to the virtual machine",
    metavar: "DRIVE",
  }),
  rt("QemuArgs", "list", list({ delimiter: " ", unescape: true }), {
    help: "Pass extra arguments to qemu",
    metavar: "ARGS",
  }),
  rt("Register", "value", parseFeature, {
    default: "auto",
    help: "Register booted vm/container with systemd-machined",
    metavar: "FEATURE",
  }),
  rt("StorageTargetMode", "value", parseFeature, {
    default: "auto",
    help: "Run systemd-storagetm as part of the serve verb",
    metavar: "FEATURE",
  }),
] as const satisfies readonly Setting[];
