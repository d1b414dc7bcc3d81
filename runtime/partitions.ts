// The root partition of a GPT disk image, for hosts where systemd-nspawn --image= cannot be used (it needs
// udev to dissect the image): mkosi mounts the partition itself through a loop device at its offset.
import { spawnSync } from "node:child_process";
import { RuntimeError } from "./host.js";
import { requireTool } from "./tools.js";

/** Discoverable Partitions Specification root type UUIDs by architecture. */
const ROOT_TYPES: Record<string, string> = {
  "x86-64": "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
  x86: "44479540-F297-41B2-9AF7-D131D5F0458A",
  arm64: "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
  arm: "69DAD710-2CE4-4E3C-B16C-21A1D49ABED3",
  riscv64: "72EC70A6-CF74-40E6-BD49-4BDA08E8F224",
};
const LINUX_DATA = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

export interface PartitionExtent {
  offset: number;
  size: number;
}

interface SfdiskTable {
  partitiontable: {
    label: string;
    sectorsize?: number;
    partitions?: { start: number; size: number; type: string }[];
  };
}

export function rootPartition(image: string, architecture: string): PartitionExtent {
  const sfdisk = requireTool("sfdisk");
  const result = spawnSync(sfdisk, ["--json", image], { encoding: "utf8" });
  if (result.status !== 0) throw new RuntimeError(`${image} has no partition table: ${result.stderr.trim()}`);
  const table = (JSON.parse(result.stdout) as SfdiskTable).partitiontable;
  const sector = table.sectorsize ?? 512;
  const partitions = table.partitions ?? [];
  const rootType = ROOT_TYPES[architecture];
  const root =
    partitions.find((p) => p.type.toUpperCase() === rootType) ??
    (partitions.filter((p) => p.type.toUpperCase() === LINUX_DATA).length === 1
      ? partitions.find((p) => p.type.toUpperCase() === LINUX_DATA)
      : undefined);
  if (!root)
    throw new RuntimeError(
      `${image} has no root partition for ${architecture} (GPT type ${rootType ?? "unknown"}) and not exactly one Linux data partition`,
    );
  return { offset: root.start * sector, size: root.size * sector };
}
