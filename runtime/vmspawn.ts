// `mkosi vm` with VirtualMachineMonitor=vmspawn: systemd-vmspawn (systemd v256 or newer, e.g. from a
// tools tree) for directory and disk images, with the arguments after the verb appended.
import { spawnSync } from "node:child_process";
import { credentialsOf, nspawnCredentialArgs } from "./credentials.js";
import { runForeground } from "./foreground.js";
import { RuntimeError } from "./host.js";
import type { Machine } from "./machine.js";
import { runtimeTreeTarget } from "./mounts.js";
import { requireTool } from "./tools.js";

export const MINIMUM_VMSPAWN = 256;

export interface VmspawnRequest {
  machine: Machine;
  cmdline: string[];
  debug: boolean;
}

export function runVmspawn(request: VmspawnRequest): Promise<number> {
  const { machine } = request;
  const { runtime, image } = machine;
  if (image.Format !== "directory" && image.Format !== "disk")
    throw new RuntimeError(
      `VirtualMachineMonitor=vmspawn boots directory and disk images, not Format=${image.Format}`,
    );
  const vmspawn = requireTool("systemd-vmspawn");
  const version = Number(
    /systemd (\d+)/.exec(spawnSync(vmspawn, ["--version"], { encoding: "utf8" }).stdout)?.[1],
  );
  if (version && version < MINIMUM_VMSPAWN)
    throw new RuntimeError(`systemd-vmspawn ${version} is too old: ${MINIMUM_VMSPAWN} or newer is needed`);
  const args = [
    vmspawn,
    `--cpus=${runtime.CPUs || 1}`,
    `--ram=${runtime.RAM}`,
    `--machine=${machine.name}`,
    image.Format === "directory" ? `--directory=${machine.output}` : `--image=${machine.output}`,
  ];
  if (runtime.KVM !== "auto") args.push(`--kvm=${runtime.KVM === "enabled" ? "yes" : "no"}`);
  if (runtime.VSock !== "auto") args.push(`--vsock=${runtime.VSock === "enabled" ? "yes" : "no"}`);
  if (runtime.TPM !== "auto") args.push(`--tpm=${runtime.TPM === "enabled" ? "yes" : "no"}`);
  if (runtime.Linux) args.push(`--linux=${runtime.Linux}`);
  args.push(...nspawnCredentialArgs(credentialsOf(machine)));
  for (const tree of runtime.RuntimeTrees)
    args.push(`--bind=${tree.Source}:${runtimeTreeTarget(tree.Target)}`);
  args.push(...request.cmdline, ...runtime.KernelCommandLineExtra);
  return runForeground(args, { debug: request.debug });
}
