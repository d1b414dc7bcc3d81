// Looking into built disk images and PE binaries without mounting anything (no vfat in this kernel, no
// partition device nodes without udev): the GPT through `sfdisk -J`, partitions by byte offset, ext4
// through debugfs, the ESP (vfat) through mtools, PE sections parsed here.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { peSectionList as sectionsOf } from "../../tasks/pe.js";

export interface GptPartition {
  start: number;
  size: number;
  type: string;
  uuid: string;
  name?: string;
}

/** The GPT of a disk image (sfdisk -J), sectors of 512 bytes. */
export function gpt(image: string): { partitions: GptPartition[]; sectorSize: number } {
  const json = JSON.parse(execFileSync("sfdisk", ["-J", image], { encoding: "utf8" })) as {
    partitiontable: { partitions: GptPartition[]; sectorsize?: number };
  };
  return {
    partitions: json.partitiontable.partitions.map((p) => ({
      ...p,
      type: p.type.toLowerCase(),
      uuid: p.uuid.toLowerCase(),
    })),
    sectorSize: json.partitiontable.sectorsize ?? 512,
  };
}

/** Copies one partition out of a disk image into `dest` (dd by offset). */
export function extractPartition(image: string, part: GptPartition, dest: string, sectorSize = 512): void {
  execFileSync("dd", [
    `if=${image}`,
    `of=${dest}`,
    `bs=${sectorSize}`,
    `skip=${part.start}`,
    `count=${part.size}`,
    "status=none",
    "conv=sparse",
  ]);
}

/** A file of an ext4 filesystem image (debugfs, read-only). */
export function ext4Cat(fs: string, path: string): string {
  return execFileSync("debugfs", ["-R", `cat ${path}`, fs], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
}

/** `mdir`-style listing of a directory of the vfat filesystem at `offset` bytes into `image`. */
export function vfatList(image: string, offset: number, dir: string): string[] {
  const out = execFileSync("mdir", ["-b", "-i", `${image}@@${offset}`, `::${dir}`], { encoding: "utf8" });
  return out
    .split("\n")
    .filter(Boolean)
    .map((line) => line.replace(/^::/, "").replace(/\/$/, ""));
}

/** Copies a file out of the vfat filesystem at `offset` bytes into `image`. */
export function vfatRead(image: string, offset: number, path: string, dest: string): void {
  execFileSync("mcopy", ["-n", "-i", `${image}@@${offset}`, `::${path}`, dest]);
}

/** The sections of a PE binary (name → raw bytes, trailing zeros of the file alignment kept); a name
 * that repeats (multi-profile UKIs) maps to its last section. */
export function peSections(file: string): Map<string, Buffer> {
  return new Map(peSectionList(file));
}

/** The sections of a PE binary in their order, repeated names included. */
export function peSectionList(file: string): [string, Buffer][] {
  return sectionsOf(readFileSync(file), file);
}
