// What a runtime verb runs: the main image (the last one of the configuration) and its output, with the
// settings of its [Runtime] section read through one typed view.
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import type { ConfigTree, ImageView } from "../tasks/image.js";
import { outputPaths } from "../tasks/outputs.js";

export interface Drive {
  Id: string;
  Size: number;
  Directory: string | null;
  Options: string | null;
  FileId: string;
  Flags: string[];
}

/** The [Runtime] settings as `summary --json` has them. */
export interface RuntimeSettings {
  Ephemeral: boolean;
  Credentials: Record<string, string>;
  KernelCommandLineExtra: string[];
  KernelCommandLine: string[];
  RuntimeTrees: ConfigTree[];
  RuntimeSize: number | null;
  RuntimeScratch: "enabled" | "disabled" | "auto";
  RuntimeNetwork: "user" | "interface" | "none";
  RuntimeBuildSources: boolean;
  RuntimeHome: boolean;
  UnitProperties: string[];
  SshKey: string | null;
  SshCertificate: string | null;
  VirtualMachineMonitor: "qemu" | "vmspawn";
  Machine: string | null;
  ForwardJournal: string | null;
  SysupdateDirectory: string | null;
  Console: "interactive" | "read-only" | "native" | "gui";
  CPUs: number;
  RAM: number;
  KVM: "enabled" | "disabled" | "auto";
  VSock: "enabled" | "disabled" | "auto";
  VSockCID: number;
  TPM: "enabled" | "disabled" | "auto";
  CDROM: boolean;
  Removable: boolean;
  Firmware: "auto" | "linux" | "linux-noinitrd" | "uefi" | "uefi-secure-boot" | "bios";
  FirmwareVariables: string | null;
  Linux: string | null;
  Drives: Drive[];
  QemuArgs: string[];
  Register: "enabled" | "disabled" | "auto";
  StorageTargetMode: "enabled" | "disabled" | "auto";
  NSpawnSettings: string | null;
  SecureBoot: boolean;
  SecureBootKey: string | null;
  SecureBootCertificate: string | null;
  Locale: string | null;
  Timezone: string | null;
}

export interface Machine {
  image: ImageView;
  runtime: RuntimeSettings;
  /** The -C directory. */
  configDir: string;
  /** The main output's path (a directory, a disk image, an archive…). */
  output: string;
  /** The output directory holding it and its split artifacts. */
  outputDir: string;
  /** Machine=, else the image's name. */
  name: string;
}

export function machineOf(image: ImageView, configDir: string): Machine {
  const [output] = outputPaths(image, configDir);
  const runtime = image as unknown as RuntimeSettings;
  return {
    image,
    runtime,
    configDir,
    output: output ?? "",
    outputDir: image.OutputDirectory ?? configDir,
    name: runtime.Machine ?? image.Image,
  };
}

/** Is the image's output there to run? */
export function outputExists(machine: Machine): boolean {
  return machine.output !== "" && existsSync(machine.output);
}

/** Output formats that are GPT disk images (a container or VM gets them as a disk). A `uki` output is an
 * EFI binary, which a VM boots through OVMF as its kernel. */
export const DISK_FORMATS = new Set(["disk", "esp"]);

/** The host's time zone, as firstboot wants it (e.g. "Europe/Berlin"), if it can be told. */
export function hostTimezone(): string | null {
  try {
    const link = readlinkSync("/etc/localtime");
    const match = /zoneinfo\/(.+)$/.exec(link);
    if (match?.[1]) return match[1];
  } catch {
    // not a link
  }
  try {
    const text = readFileSync("/etc/timezone", "utf8").trim();
    return text || null;
  } catch {
    return null;
  }
}

/** The split artifact `<output base>.<suffix>` next to the main output, if it was produced. */
export function splitArtifact(machine: Machine, suffix: string): string | null {
  const path = join(machine.outputDir, `${machine.image.Output}.${suffix}`);
  return existsSync(path) ? path : null;
}
