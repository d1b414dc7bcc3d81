// A running VM's address for `mkosi ssh`: its vsock CID, or the host port forwarded to its port 22 when
// there is no vsock. One small file per machine name, removed when the VM ends.
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface VmState {
  name: string;
  pid: number;
  cid: number | null;
  sshPort: number | null;
}

export function stateDirectory(): string {
  if (process.getuid?.() === 0 && !process.env.MKOSI_IN_USER_NAMESPACE) return "/run/mkosi-ts/machines";
  return join(process.env.XDG_RUNTIME_DIR || `/tmp/mkosi-ts-${process.getuid?.() ?? 0}`, "mkosi-ts/machines");
}

export function statePath(name: string): string {
  return join(stateDirectory(), `${name}.json`);
}

export async function writeState(state: VmState): Promise<string> {
  await mkdir(stateDirectory(), { recursive: true });
  const path = statePath(state.name);
  await writeFile(path, `${JSON.stringify(state)}\n`);
  return path;
}

/** The state of a running VM of that name, or null (no file, or its qemu is gone). */
export function readState(name: string): VmState | null {
  let state: VmState;
  try {
    state = JSON.parse(readFileSync(statePath(name), "utf8")) as VmState;
  } catch {
    return null;
  }
  try {
    process.kill(state.pid, 0);
  } catch {
    return null;
  }
  return state;
}
