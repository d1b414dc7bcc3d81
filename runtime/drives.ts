// Drives= for VMs: a backing file per file id, in Directory= (default /var/tmp) named
// mkosi-drive-<machine>-<file id>, created sparse at the first drive's size; kept across runs only with
// the `persist` flag. Each drive is a -blockdev node named after its id, for QemuArgs= devices to use.
import { existsSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { Drive, Machine } from "./machine.js";
import type { Scratch } from "./scratch.js";

export function drivePath(machine: Machine, drive: Drive): string {
  return join(drive.Directory ?? "/var/tmp", `mkosi-drive-${machine.name}-${drive.FileId}`);
}

export async function driveArgs(machine: Machine, scratch: Scratch): Promise<string[]> {
  const files = new Map<string, string>();
  const args: string[] = [];
  for (const drive of machine.runtime.Drives) {
    let path = files.get(drive.FileId);
    if (!path) {
      path = drivePath(machine, drive);
      files.set(drive.FileId, path);
      const persist = drive.Flags.includes("persist");
      if (!(persist && existsSync(path))) {
        const file = await open(path, "w");
        await file.truncate(drive.Size);
        await file.close();
      }
      if (!persist) scratch.remove(path);
    }
    const options = drive.Options ? `,${drive.Options}` : "";
    args.push(
      "-blockdev",
      `driver=raw,node-name=${drive.Id},discard=unmap,file.driver=file,file.filename=${path},file.locking=off${options}`,
    );
  }
  return args;
}
