// Ephemeral copies of disk images: a sparse copy beside the output (same file system, so a reflink where
// the file system has them), removed with the run (see scratch.ts).
import { spawnSync } from "node:child_process";
import { basename, dirname, join } from "node:path";
import { RuntimeError } from "./host.js";
import type { Scratch } from "./scratch.js";

export function ephemeralDiskCopy(image: string, scratch: Scratch): string {
  const copy = join(dirname(image), `.mkosi-ephemeral-${process.pid}-${basename(image)}`);
  scratch.remove(copy);
  const cp = spawnSync("cp", ["--sparse=always", "--reflink=auto", "--", image, copy], { encoding: "utf8" });
  if (cp.status !== 0)
    throw new RuntimeError(`Could not copy ${image} for Ephemeral=yes: ${cp.stderr.trim()}`);
  return copy;
}
