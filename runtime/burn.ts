// `mkosi burn <device>`: write a disk image to a block device and move the backup GPT to the device's
// end, so the partition table matches the medium. Refuses what would destroy something by accident: a
// path that is not a block device, a device (or one of its partitions) that is mounted or used as swap,
// a device too small for the image or of another sector size; says what is being wiped before it is.
import { spawnSync } from "node:child_process";
import {
  constants,
  createReadStream,
  createWriteStream,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
} from "node:fs";
import { open } from "node:fs/promises";
import { basename, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { RuntimeError } from "./host.js";
import type { Machine } from "./machine.js";
import { requireTool } from "./tools.js";

export const BURNABLE_FORMATS = new Set(["disk", "esp"]);

interface BlockDevice {
  path: string;
  /** sysfs directory (/sys/dev/block/MAJ:MIN). */
  sysfs: string;
  name: string;
  size: number;
  sectorSize: number;
  /** Kernel names of its partitions (sda1, loop0p1…). */
  partitions: string[];
}

function sysfsNumber(path: string): number {
  return Number(readFileSync(path, "utf8").trim());
}

export function blockDevice(path: string): BlockDevice {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    throw new RuntimeError(`${path} does not exist`);
  }
  if (!st.isBlockDevice())
    throw new RuntimeError(`${path} is not a block device: burn writes to a whole disk (e.g. /dev/sdb)`);
  const major = Math.floor(st.rdev / 256) & 0xfff;
  const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
  const sysfs = `/sys/dev/block/${major}:${minor}`;
  let name: string;
  try {
    name = basename(readFileSync(join(sysfs, "uevent"), "utf8").match(/^DEVNAME=(.+)$/m)?.[1] ?? "");
  } catch {
    throw new RuntimeError(`${path}: the kernel does not know this block device`);
  }
  let partition = false;
  try {
    statSync(join(sysfs, "partition"));
    partition = true;
  } catch {
    // a whole disk
  }
  if (partition) throw new RuntimeError(`${path} is a partition: burn writes to a whole disk`);
  const partitions = readdirSync(join("/sys/class/block", name)).filter((entry) => entry.startsWith(name));
  return {
    path,
    sysfs,
    name,
    size: sysfsNumber(join(sysfs, "size")) * 512,
    sectorSize: sysfsNumber(join(sysfs, "queue/logical_block_size")),
    partitions,
  };
}

/** Mount points (and swap use) of the device and its partitions, by kernel name. */
export function usesOf(device: BlockDevice): string[] {
  const names = new Set([device.name, ...device.partitions]);
  const numbers = new Set<string>();
  for (const name of names) {
    try {
      numbers.add(readFileSync(join("/sys/class/block", name, "dev"), "utf8").trim());
    } catch {
      // vanished
    }
  }
  const uses: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const fields = line.split(" ");
    if (fields[2] && numbers.has(fields[2])) uses.push(`mounted at ${fields[4]}`);
  }
  for (const line of readFileSync("/proc/swaps", "utf8").split("\n").slice(1)) {
    const source = line.split(/\s+/)[0];
    if (source && names.has(basename(source))) uses.push(`swap ${source}`);
  }
  return uses;
}

/** The sector size the image's GPT was written for (its header at LBA 1), or null without a GPT. */
async function gptSectorSize(image: string): Promise<number | null> {
  const file = await open(image, "r");
  try {
    for (const size of [512, 4096]) {
      const buffer = Buffer.alloc(8);
      await file.read(buffer, 0, 8, size);
      if (buffer.toString("latin1") === "EFI PART") return size;
    }
    return null;
  } finally {
    await file.close();
  }
}

function human(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export async function burn(machine: Machine, target: string | undefined): Promise<number> {
  if (!target) throw new RuntimeError("burn needs a device: mkosi burn /dev/sdX");
  if (!BURNABLE_FORMATS.has(machine.image.Format))
    throw new RuntimeError(`burn writes disk images, but Format=${machine.image.Format}`);
  const sfdisk = requireTool("sfdisk");
  const device = blockDevice(target);
  const uses = usesOf(device);
  if (uses.length > 0)
    throw new RuntimeError(`${target} is in use (${uses.join(", ")}): refusing to overwrite it`);
  const imageSize = statSync(machine.output).size;
  if (imageSize > device.size)
    throw new RuntimeError(
      `${machine.output} (${human(imageSize)}) does not fit on ${target} (${human(device.size)})`,
    );
  const sector = await gptSectorSize(machine.output);
  if (sector === null) throw new RuntimeError(`${machine.output} has no GPT partition table`);
  if (sector !== device.sectorSize)
    throw new RuntimeError(
      `${machine.output} was made for ${sector}-byte sectors, ${target} has ${device.sectorSize}-byte sectors: rebuild with SectorSize=${device.sectorSize}`,
    );
  const partitions = device.partitions.length > 0 ? `, partitions ${device.partitions.join(" ")}` : "";
  process.stderr.write(
    `‣ Writing ${machine.output} (${human(imageSize)}) to ${target} (${human(device.size)}${partitions}): everything on ${target} is wiped\n`,
  );
  // O_EXCL on a block device: the kernel refuses while anything (a mount, another writer) holds it.
  await pipeline(
    createReadStream(machine.output),
    createWriteStream("", { fd: openSync(target, constants.O_WRONLY | constants.O_EXCL) }),
  );
  // The image's backup GPT sits at the end of the image; move it to the end of the device.
  const fix = spawnSync(sfdisk, ["--no-reread", "--relocate", "gpt-bak-std", target], { encoding: "utf8" });
  if (fix.status !== 0)
    throw new RuntimeError(`sfdisk could not fix the GPT of ${target}: ${fix.stderr.trim()}`);
  spawnSync("sync", [target]);
  process.stderr.write(`‣ ${target} written\n`);
  return 0;
}
