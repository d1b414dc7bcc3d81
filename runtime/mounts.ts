// Host directories a machine sees (containers through bind mounts, VMs through virtiofs): RuntimeTrees=,
// RuntimeBuildSources= (at /work/src and /work/build, where build scripts saw them), RuntimeHome= (at
// /root), RuntimeScratch= (a scratch directory on the host's disk at /var/tmp) and a ForwardJournal=
// directory (at /var/log/journal, where the machine's journald writes).
import { existsSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { homedir } from "node:os";
import { isAbsolute, posix } from "node:path";
import { RuntimeError } from "./host.js";
import type { Machine } from "./machine.js";
import type { Scratch } from "./scratch.js";

export interface RuntimeMount {
  source: string;
  target: string;
  readOnly?: boolean;
}

/** Where a RuntimeTrees= target lands: /root/src by default, relative targets below it. */
export function runtimeTreeTarget(target: string | null): string {
  if (!target) return "/root/src";
  return isAbsolute(target) ? posix.normalize(target) : posix.join("/root/src", target);
}

function requireDirectory(path: string, setting: string): void {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // missing
  }
  if (!isDir) throw new RuntimeError(`${setting}: ${path} is not a directory`);
}

export async function runtimeMounts(
  machine: Machine,
  scratch: Scratch,
  options: { vm?: boolean } = {},
): Promise<RuntimeMount[]> {
  const { runtime, image } = machine;
  const mounts: RuntimeMount[] = [];
  for (const tree of runtime.RuntimeTrees) {
    requireDirectory(tree.Source, "RuntimeTrees=");
    mounts.push({ source: tree.Source, target: runtimeTreeTarget(tree.Target) });
  }
  if (runtime.RuntimeBuildSources) {
    for (const source of image.BuildSources) {
      requireDirectory(source.Source, "BuildSources=");
      mounts.push({ source: source.Source, target: posix.join("/work/src", source.Target ?? "") });
    }
    if (image.BuildDirectory && existsSync(image.BuildDirectory))
      mounts.push({ source: image.BuildDirectory, target: "/work/build" });
  }
  if (runtime.RuntimeHome) {
    const home = process.env.HOME || homedir();
    if (home && existsSync(home)) mounts.push({ source: home, target: "/root" });
  }
  // auto: for VMs, whose root file system is small; a container's /var/tmp is the host's disk anyway.
  const scratchWanted =
    runtime.RuntimeScratch === "enabled" || (runtime.RuntimeScratch === "auto" && options.vm === true);
  if (scratchWanted) {
    const dir = await scratch.directory("mkosi-scratch", "/var/tmp");
    mounts.push({ source: dir, target: "/var/tmp" });
  }
  const journal = runtime.ForwardJournal;
  if (journal && !journal.endsWith(".journal")) {
    await mkdir(journal, { recursive: true });
    mounts.push({ source: journal, target: "/var/log/journal" });
  } else if (journal) {
    throw new RuntimeError(
      `ForwardJournal=${journal}: forwarding into a single .journal file needs systemd-journal-remote and systemd v256 in the image; give a directory instead`,
    );
  }
  return mounts;
}
