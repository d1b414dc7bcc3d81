// Booting a disk image under qemu with OVMF (or SeaBIOS, qemu's default firmware), in software emulation (KVM guests fail on this host), with
// the serial console on a pipe: resolves with the console output once `marker` appears and the guest
// powers off (qemu exits), rejects after `timeoutMs`, or at once when the guest kernel panics, with what the
// console printed.
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";

export const OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd";
export const OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd";

export function bootUefi(image: string, scratch: string, marker: string, timeoutMs: number): Promise<string> {
  const vars = join(scratch, "OVMF_VARS.fd");
  copyFileSync(OVMF_VARS, vars);
  return boot(image, marker, timeoutMs, [
    "-drive",
    `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`,
    "-drive",
    `if=pflash,format=raw,file=${vars}`,
  ]);
}

/** The same with SeaBIOS: the disk's MBR boot code (grub's boot.img) starts it. */
export function bootBios(image: string, marker: string, timeoutMs: number): Promise<string> {
  return boot(image, marker, timeoutMs, []);
}

function boot(image: string, marker: string, timeoutMs: number, firmware: string[]): Promise<string> {
  const args = [
    "-machine",
    "q35,accel=tcg",
    "-cpu",
    "max",
    // One vCPU: with two, multi-threaded TCG sometimes traps the guest kernel's live code patching
    // (an "Oops: int3" in sched_clock_cpu, then a panic) — an emulator race, not the image's fault.
    "-smp",
    "1",
    "-m",
    "1536",
    "-nographic",
    "-nodefaults",
    "-no-reboot",
    "-serial",
    "stdio",
    ...firmware,
    "-drive",
    `if=none,id=disk,format=raw,file=${image},snapshot=on`,
    "-device",
    "virtio-blk-pci,drive=disk",
  ];
  return new Promise((resolve, reject) => {
    const qemu = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "pipe", "pipe"] });
    let console = "";
    qemu.stdout.on("data", (chunk: Buffer) => {
      console += chunk.toString("latin1");
      // A panicked guest with -no-reboot hangs until the timeout: stop at once.
      if (console.includes("end Kernel panic")) qemu.kill("SIGKILL");
    });
    qemu.stderr.on("data", (chunk: Buffer) => {
      console += chunk.toString("latin1");
    });
    const timer = setTimeout(() => {
      qemu.kill("SIGKILL");
      reject(new Error(`no "${marker}" after ${timeoutMs / 1000} s; console:\n${console.slice(-6000)}`));
    }, timeoutMs);
    qemu.on("close", (code) => {
      clearTimeout(timer);
      if (console.includes(marker)) resolve(console);
      else reject(new Error(`qemu exited (${code}) without "${marker}"; console:\n${console.slice(-6000)}`));
    });
  });
}

/** The unit that prints `marker` on the console once multi-user.target is reached and powers the machine
 * off, as files of an extra tree; `enableBootReport` enables it (by a symlink: a script would see every
 * setting and rerun on any change). */
export function bootReportFiles(marker: string): Record<string, string> {
  return {
    "mkosi.extra/etc/systemd/system/boot-ok.service": `[Unit]
Description=Report a finished boot
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo ${marker} > /dev/console; systemctl poweroff --no-block'
`,
  };
}

export function enableBootReport(tree: string): void {
  const wants = join(tree, "mkosi.extra/etc/systemd/system/multi-user.target.wants");
  mkdirSync(wants, { recursive: true });
  symlinkSync("../boot-ok.service", join(wants, "boot-ok.service"));
}
