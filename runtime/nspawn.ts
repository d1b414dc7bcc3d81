// `mkosi shell` and `mkosi boot`: the image in a systemd-nspawn container.
//
// nspawn runs in the image namespace of namespace.ts (the image, or its ephemeral overlay, and the
// settings file in a tmpfs of a private mount namespace). Disk images are passed with --image= (an
// ephemeral one is copied next to the output first).

import { statSync } from "node:fs";
import { truncate } from "node:fs/promises";
import { credentialsOf, nspawnCredentialArgs } from "./credentials.js";
import { ephemeralDiskCopy } from "./diskcopy.js";
import { runForeground } from "./foreground.js";
import { hostHasSystemdManager, hostHasUdev, RuntimeError, shouldRegister } from "./host.js";
import { DISK_FORMATS, type Machine } from "./machine.js";
import { runtimeMounts } from "./mounts.js";
import { type ImageNamespace, inImageNamespace, namespacedImage } from "./namespace.js";
import { rootPartition } from "./partitions.js";
import { Scratch } from "./scratch.js";
import { requireTool } from "./tools.js";

export interface NspawnRequest {
  machine: Machine;
  /** boot: run the image's init; shell: run a command (a shell by default). */
  boot: boolean;
  /** Arguments after the verb: nspawn options first, then the command (shell) or init's arguments (boot). */
  cmdline: string[];
  debug: boolean;
}

function consoleMode(boot: boolean): string {
  const interactive = process.stdin.isTTY && process.stdout.isTTY;
  if (interactive) return "interactive";
  // Booted without a terminal, systemd writes nothing to a piped console; read-only keeps its output.
  return boot ? "read-only" : "pipe";
}

export async function runNspawn(request: NspawnRequest): Promise<number> {
  const { machine, boot } = request;
  const { runtime } = machine;
  const format = machine.image.Format;
  if (format !== "directory" && !DISK_FORMATS.has(format))
    throw new RuntimeError(
      `${boot ? "boot" : "shell"} needs a directory or disk image, but Format=${format} (${machine.output})`,
    );
  if (process.getuid?.() !== 0 || process.env.MKOSI_IN_USER_NAMESPACE)
    throw new RuntimeError(
      `mkosi ${boot ? "boot" : "shell"} needs root: systemd-nspawn cannot run unprivileged`,
    );
  const nspawn = requireTool("systemd-nspawn");
  const scratch = new Scratch();
  try {
    const runtimeDir = await scratch.directory("mkosi-machine");
    let image = machine.output;
    const directory = format === "directory";
    if (!directory && runtime.Ephemeral) {
      image = ephemeralDiskCopy(image, scratch);
    }
    // RuntimeSize=: the disk grows (sparse) before the container sees it; systemd-repart inside can use it.
    if (!directory && runtime.RuntimeSize && statSync(image).size < runtime.RuntimeSize) {
      await truncate(image, runtime.RuntimeSize);
    }
    const register = shouldRegister(runtime.Register);
    const args = [
      nspawn,
      "--quiet",
      "--link-journal=no",
      "--resolv-conf=auto",
      `--console=${consoleMode(boot)}`,
      `--machine=${machine.name}`,
      `--register=${register ? "yes" : "no"}`,
    ];
    // Without a service manager to allocate a scope from, nspawn stays in mkosi's own cgroup.
    if (!hostHasSystemdManager()) args.push("--keep-unit");
    if (runtime.NSpawnSettings) args.push("--settings=trusted");
    const ns: ImageNamespace = {
      runtimeDir,
      machine: machine.name,
      kind: directory ? "directory" : "disk",
      image,
      ephemeral: runtime.Ephemeral,
      nspawnSettings: runtime.NSpawnSettings,
      // nspawn --image= dissects the disk with udev's help; without udev the root partition is mounted here.
      rootPartition:
        !directory && !hostHasUdev() ? rootPartition(image, machine.image.Architecture) : undefined,
    };
    args.push(
      directory || ns.rootPartition ? `--directory=${namespacedImage(ns)}` : `--image=${namespacedImage(ns)}`,
    );
    args.push(...nspawnCredentialArgs(credentialsOf(machine)));
    const mounts = await runtimeMounts(machine, scratch);
    for (const mount of mounts)
      args.push(`--bind${mount.readOnly ? "-ro" : ""}=${mount.source}:${mount.target}:norbind`);
    for (const property of runtime.UnitProperties) args.push(`--property=${property}`);
    if (runtime.RuntimeNetwork === "interface") args.push("--network-veth");
    else if (runtime.RuntimeNetwork === "none") args.push("--private-network");
    if (boot) args.push("--boot");
    // nspawn reads options up to the first non-option argument: the user's options, then the command
    // (shell) or init's arguments (boot), to which KernelCommandLineExtra= is appended.
    args.push(...request.cmdline);
    if (boot) args.push(...runtime.KernelCommandLineExtra);
    const wrapped = inImageNamespace(ns, args);
    return await runForeground(wrapped.argv, { env: wrapped.env, debug: request.debug });
  } finally {
    await scratch.dispose();
  }
}
