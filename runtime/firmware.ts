// Firmware= for VMs: which firmware boots the image, and where OVMF's code and variables come from (the
// qemu firmware descriptors, /usr/share/qemu/firmware/*.json, of the host or the tools tree: the
// `ovmf` package on Debian).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { RuntimeError } from "./host.js";
import type { Machine } from "./machine.js";

export type Firmware = "linux" | "linux-noinitrd" | "uefi" | "uefi-secure-boot" | "bios";

/** Firmware=auto: UEFI for images that boot through an ESP (disk, esp, uki), Secure Boot when the image is
 * signed for it; direct kernel boot for trees and archives (directory, cpio) and when Linux= is given. */
export function resolveFirmware(machine: Machine): Firmware {
  const { runtime, image } = machine;
  if (runtime.Firmware !== "auto") return runtime.Firmware;
  if (runtime.Linux || image.Format === "directory" || image.Format === "cpio") return "linux";
  return runtime.SecureBoot ? "uefi-secure-boot" : "uefi";
}

export interface OvmfFirmware {
  code: string;
  vars: string;
  secureBoot: boolean;
  /** The variables have Microsoft's (or a distribution's) keys enrolled. */
  enrolledKeys: boolean;
  requiresSmm: boolean;
  description: string;
}

interface Descriptor {
  description?: string;
  "interface-types"?: string[];
  mapping?: { device?: string; executable?: { filename?: string }; "nvram-template"?: { filename?: string } };
  targets?: { architecture?: string }[];
  features?: string[];
}

const QEMU_ARCH: Record<string, string> = { "x86-64": "x86_64", arm64: "aarch64", x86: "i386" };

/** The UEFI firmware descriptors for the image's architecture, in the descriptors' priority order. */
export function ovmfCandidates(architecture: string, root = "/"): OvmfFirmware[] {
  const dir = join(root, "usr/share/qemu/firmware");
  const arch = QEMU_ARCH[architecture] ?? architecture;
  let names: string[] = [];
  try {
    names = readdirSync(dir)
      .filter((name) => name.endsWith(".json"))
      .sort();
  } catch {
    return [];
  }
  const found: OvmfFirmware[] = [];
  for (const name of names) {
    let descriptor: Descriptor;
    try {
      descriptor = JSON.parse(readFileSync(join(dir, name), "utf8")) as Descriptor;
    } catch {
      continue;
    }
    if (!descriptor["interface-types"]?.includes("uefi")) continue;
    if (descriptor.mapping?.device !== "flash") continue;
    if (!descriptor.targets?.some((target) => target.architecture === arch)) continue;
    const code = descriptor.mapping.executable?.filename;
    const vars = descriptor.mapping["nvram-template"]?.filename;
    if (!code || !vars) continue;
    const [codePath, varsPath] = [join(root, code), join(root, vars)];
    if (!existsSync(codePath) || !existsSync(varsPath)) continue;
    const features = descriptor.features ?? [];
    found.push({
      code: codePath,
      vars: varsPath,
      secureBoot: features.includes("secure-boot"),
      enrolledKeys: features.includes("enrolled-keys"),
      requiresSmm: features.includes("requires-smm"),
      description: descriptor.description ?? name,
    });
  }
  return found;
}

/** OVMF for Firmware=uefi or uefi-secure-boot; FirmwareVariables=microsoft wants enrolled keys. */
export function findOvmf(
  machine: Machine,
  firmware: "uefi" | "uefi-secure-boot",
  /** Where to look: the host, or a tools tree and then the host. */
  roots: string[] = ["/"],
): OvmfFirmware {
  const candidates = roots.flatMap((root) => ovmfCandidates(machine.image.Architecture, root));
  const secure = firmware === "uefi-secure-boot";
  const wantEnrolled = machine.runtime.FirmwareVariables === "microsoft";
  const match =
    candidates.find((c) => c.secureBoot === secure && (!secure || c.enrolledKeys === wantEnrolled)) ??
    candidates.find((c) => c.secureBoot === secure);
  if (!match)
    throw new RuntimeError(
      candidates.length === 0
        ? `Firmware=${firmware} needs OVMF: install the Debian package ovmf (or use a tools tree that has it)`
        : `Firmware=${firmware}: no OVMF build ${secure ? "with" : "without"} Secure Boot for ${machine.image.Architecture} (found: ${candidates.map((c) => c.description).join("; ")})`,
    );
  return match;
}
