// `mkosi ssh [command…]`: ssh into the VM `mkosi vm` started for this configuration (Machine=, else the
// image's name), as root with SshKey=. Over vsock as upstream does (systemd-ssh-proxy, else socat) when
// the VM has a vsock CID; otherwise through the port qemu forwards to the guest's port 22 (hosts without
// /dev/vhost-vsock, like this CI's).

import { runForeground } from "./foreground.js";
import { RuntimeError } from "./host.js";
import type { Machine } from "./machine.js";
import { findTool, requireTool } from "./tools.js";
import { readState } from "./vmstate.js";

export function sshArgs(machine: Machine, cmdline: string[]): string[] {
  const key = machine.runtime.SshKey;
  if (!key)
    throw new RuntimeError("mkosi ssh needs SshKey= (run mkosi genkey to make mkosi.key and mkosi.crt)");
  const state = readState(machine.name);
  if (!state)
    throw new RuntimeError(
      `No running VM named ${machine.name}: start it with mkosi vm (with the same configuration, or the same Machine=)`,
    );
  const ssh = requireTool("ssh");
  const args = [
    ssh,
    "-F",
    "none",
    "-i",
    key,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "LogLevel=ERROR",
  ];
  if (state.cid !== null) {
    const proxy = findTool("systemd-ssh-proxy");
    const socat = findTool("socat");
    if (proxy) args.push("-o", `ProxyCommand=${proxy} vsock/${state.cid} 22`);
    else if (socat) args.push("-o", `ProxyCommand=${socat} - VSOCK-CONNECT:${state.cid}:22`);
    else
      throw new RuntimeError(
        "Connecting over vsock needs systemd-ssh-proxy (systemd v256, e.g. from a tools tree) or socat: install the Debian package socat",
      );
    args.push(`root@vsock-${state.cid}`);
  } else if (state.sshPort !== null) {
    args.push("-p", String(state.sshPort), "root@127.0.0.1");
  } else {
    throw new RuntimeError(
      `VM ${machine.name} has neither vsock nor a forwarded ssh port (RuntimeNetwork=user gives one)`,
    );
  }
  return [...args, ...cmdline];
}

export function runSsh(machine: Machine, cmdline: string[], debug: boolean): Promise<number> {
  return runForeground(sshArgs(machine, cmdline), { debug });
}
