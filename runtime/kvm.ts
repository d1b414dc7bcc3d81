// KVM= for VMs. A /dev/kvm that opens is not enough: some hosts (nested setups, this CI's) expose one
// whose guests cannot run, e.g. qemu dies with "System Management Mode not supported by this hypervisor"
// or aborts on an MSR it cannot set. So KVM=auto starts qemu once with the same machine, CPU and SMM
// settings as the real run and a 64 KiB firmware whose reset vector only writes to an isa-debug-exit
// port: qemu exits with (1 << 1) | 1 = 3 when the guest ran, anything else means KVM cannot run guests.
import { spawnSync } from "node:child_process";
import { accessSync, constants, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RuntimeError } from "./host.js";

/** Real-mode code at the reset vector (0xFFFF0): mov al, 1; out 0xf4, al; hlt. */
function probeFirmware(): Buffer {
  const image = Buffer.alloc(64 * 1024, 0xf4);
  Buffer.from([0xb0, 0x01, 0xe6, 0xf4, 0xf4]).copy(image, 0xfff0);
  return image;
}

export interface KvmProbe {
  usable: boolean;
  /** Why not, in qemu's words where it said something. */
  reason?: string;
}

export function probeKvm(qemu: string, machineType: string, smm: boolean, scratchDir: string): KvmProbe {
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return { usable: false, reason: "/dev/kvm is missing or not accessible" };
  }
  const bios = join(scratchDir, "kvm-probe.bin");
  writeFileSync(bios, probeFirmware());
  // A core dump of an aborting qemu is of no use to anyone: ulimit -c 0.
  const result = spawnSync(
    "sh",
    [
      "-c",
      'ulimit -c 0; exec "$@"',
      "sh",
      qemu,
      "-machine",
      `${machineType},accel=kvm,smm=${smm ? "on" : "off"}`,
      "-cpu",
      "host",
      "-nodefaults",
      "-display",
      "none",
      "-no-reboot",
      "-bios",
      bios,
      "-device",
      "isa-debug-exit,iobase=0xf4,iosize=0x04",
    ],
    { encoding: "utf8", timeout: 30_000 },
  );
  if (result.status === 3) return { usable: true };
  const said = (result.stderr ?? "")
    .split("\n")
    .filter((line) => line.trim() && !line.includes("warning:"))
    .pop();
  return {
    usable: false,
    reason: said?.replace(/^qemu-system-\S+: /, "") ?? `qemu exited with ${result.status ?? result.signal}`,
  };
}

/** KVM=: whether to use KVM (auto: when it can run guests, with a warning when it cannot). */
export function decideKvm(
  setting: "enabled" | "disabled" | "auto",
  probe: () => KvmProbe,
  architectureMatches: boolean,
): boolean {
  if (setting === "disabled") return false;
  if (!architectureMatches) {
    if (setting === "enabled")
      throw new RuntimeError("KVM=yes, but the image's architecture is not the host's");
    return false;
  }
  const result = probe();
  if (result.usable) return true;
  if (setting === "enabled")
    throw new RuntimeError(`KVM=yes, but KVM cannot run guests here: ${result.reason}`);
  process.stderr.write(
    `‣ KVM cannot run guests here (${result.reason}): falling back to software emulation (slow)\n`,
  );
  return false;
}
