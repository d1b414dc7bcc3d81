// Hand-made disk images for the vm and burn tests, until mkosi builds bootable disks itself: a BIOS boot
// sector whose code reports to qemu's isa-debug-exit port (qemu exits with (code << 1) | 1) or spins
// forever, and a GPT disk with an ESP whose UEFI shell script prints a marker and powers off.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** A 1 MiB disk whose boot sector writes `code` to port 0xf4 (or loops forever without a code). */
export function biosDisk(path: string, code?: number): void {
  const disk = Buffer.alloc(1024 * 1024);
  const program =
    code === undefined ? Buffer.from([0xeb, 0xfe]) : Buffer.from([0xb0, code, 0xe6, 0xf4, 0xf4]);
  program.copy(disk, 0);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  writeFileSync(path, disk);
}

/** A 40 MiB GPT disk with one ESP (FAT, made with mtools at the partition's offset) holding startup.nsh. */
export function uefiShellDisk(path: string, script: string, scratch: string): void {
  writeFileSync(path, Buffer.alloc(0));
  execFileSync("truncate", ["-s", "40M", path]);
  execFileSync("sfdisk", ["-q", path], {
    input: "label: gpt\nstart=2048, size=73728, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n",
  });
  const esp = `${path}@@1M`;
  execFileSync("mformat", ["-i", esp, "-F", "-T", "73728", "::"]);
  const nsh = join(scratch, "startup.nsh");
  writeFileSync(nsh, script.replace(/\n/g, "\r\n"));
  execFileSync("mcopy", ["-i", esp, nsh, "::/startup.nsh"]);
}

/** An empty GPT disk of `size` bytes with one partition (for burn). */
export function gptDisk(path: string, size: string): void {
  writeFileSync(path, Buffer.alloc(0));
  execFileSync("truncate", ["-s", size, path]);
  execFileSync("sfdisk", ["-q", path], { input: "label: gpt\nsize=4MiB, type=linux\n" });
}
