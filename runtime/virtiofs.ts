// virtiofsd for VMs: one daemon per shared directory, its socket in the run's scratch directory. The image
// itself is shared from the image namespace (namespace.ts), so an ephemeral overlay works for VMs too.
// Both generations are handled: the C daemon of qemu 7 (Debian bookworm, /usr/lib/qemu/virtiofsd,
// `-o source=`) and the Rust one (`--shared-dir`).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { RuntimeError } from "./host.js";
import type { Scratch } from "./scratch.js";
import { findTool, requireTool } from "./tools.js";

export interface VirtiofsShare {
  tag: string;
  socket: string;
}

function daemonArgs(virtiofsd: string, socket: string, directory: string): string[] {
  const help = spawnSync(virtiofsd, ["--help"], { encoding: "utf8" });
  const rust = `${help.stdout}${help.stderr}`.includes("--shared-dir");
  return rust
    ? [
        virtiofsd,
        `--socket-path=${socket}`,
        `--shared-dir=${directory}`,
        "--cache=auto",
        "--sandbox=chroot",
        "--xattr",
      ]
    : [virtiofsd, `--socket-path=${socket}`, "-o", `source=${directory}`, "-o", "cache=auto", "-o", "xattr"];
}

/** Starts virtiofsd for `directory` (through `wrap`, e.g. into the image namespace) and waits for its
 * socket. It receives SIGTERM if mkosi dies, and is stopped when the run ends. */
export async function startVirtiofsd(
  tag: string,
  directory: string,
  scratch: Scratch,
  socketDir: string,
  wrap: (argv: string[]) => { argv: string[]; env: NodeJS.ProcessEnv } = (argv) => ({
    argv,
    env: process.env,
  }),
): Promise<VirtiofsShare> {
  const virtiofsd = requireTool("virtiofsd");
  const socket = join(socketDir, `${tag}.sock`);
  const wrapped = wrap(daemonArgs(virtiofsd, socket, directory));
  const setpriv = findTool("setpriv");
  const argv = setpriv ? [setpriv, "--pdeathsig", "SIGTERM", "--", ...wrapped.argv] : wrapped.argv;
  let output = "";
  const daemon: ChildProcess = spawn(argv[0] as string, argv.slice(1), {
    env: wrapped.env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  daemon.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  let exited = false;
  daemon.on("close", () => {
    exited = true;
  });
  scratch.defer(() => {
    if (!exited) daemon.kill("SIGTERM");
  });
  for (let i = 0; i < 200 && !existsSync(socket); i++) {
    if (exited) break;
    await sleep(50);
  }
  if (!existsSync(socket))
    throw new RuntimeError(
      `virtiofsd did not start for ${directory}: ${output.trim() || "no socket appeared"}`,
    );
  return { tag, socket };
}

/** qemu arguments for the shares (the guest memory must be shared with the daemons). */
export function virtiofsQemuArgs(shares: VirtiofsShare[]): string[] {
  return shares.flatMap((share, i) => [
    "-chardev",
    `socket,id=virtiofs${i},path=${share.socket}`,
    "-device",
    `vhost-user-fs-pci,queue-size=1024,chardev=virtiofs${i},tag=${share.tag}`,
  ]);
}
