// `mkosi shell` and `mkosi boot`: the image in a systemd-nspawn container.
//
// nspawn runs inside a private mount namespace of its own (util-linux unshare) holding a tmpfs runtime
// directory, so nothing it needs is left on the host when it ends, however it ends:
//   <runtime>/<machine>          the image: a bind mount of the output directory, or with Ephemeral=yes
//                                an overlay on it whose upper layer lives in the tmpfs (a throwaway copy
//                                that costs nothing to make, gone with the namespace)
//   <runtime>/<machine>.nspawn   NSpawnSettings=, found there by nspawn with --settings=trusted
// Disk images are passed with --image= (an ephemeral one is copied next to the output first).
import { copyFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { credentialsOf, nspawnCredentialArgs } from "./credentials.js";
import { runForeground } from "./foreground.js";
import { hostHasSystemdManager, RuntimeError, shouldRegister } from "./host.js";
import { DISK_FORMATS, type Machine } from "./machine.js";
import { runtimeMounts } from "./mounts.js";
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

/** The shell script run in the private mount namespace before exec'ing nspawn. */
const NAMESPACE_SCRIPT = `set -e
mount -t tmpfs -o mode=0755 mkosi-runtime "$MKOSI_RUNTIME"
root="$MKOSI_RUNTIME/$MKOSI_MACHINE"
if [ "$MKOSI_KIND" = directory ]; then
  mkdir "$root"
  if [ -n "$MKOSI_EPHEMERAL" ]; then
    mkdir "$MKOSI_RUNTIME/upper" "$MKOSI_RUNTIME/work"
    mount -t overlay mkosi-ephemeral -o "lowerdir=$MKOSI_IMAGE,upperdir=$MKOSI_RUNTIME/upper,workdir=$MKOSI_RUNTIME/work" "$root"
  else
    mount --bind "$MKOSI_IMAGE" "$root"
  fi
else
  : > "$root.raw"
  mount --bind "$MKOSI_IMAGE" "$root.raw"
fi
if [ -n "$MKOSI_SETTINGS" ]; then cp "$MKOSI_SETTINGS" "$root.nspawn"; fi
exec "$@"`;

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
  const unshare = requireTool("unshare");
  const scratch = new Scratch();
  try {
    const runtimeDir = await scratch.directory("mkosi-machine");
    let image = machine.output;
    const directory = format === "directory";
    if (!directory && runtime.Ephemeral) {
      // A disk image is copied (sparse) beside the output: nspawn writes to it directly.
      const copy = join(dirname(image), `.mkosi-ephemeral-${process.pid}-${basename(image)}`);
      scratch.remove(copy);
      await copyFile(image, copy);
      image = copy;
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
    const root = join(runtimeDir, machine.name);
    args.push(directory ? `--directory=${root}` : `--image=${root}.raw`);
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
    const env = {
      ...process.env,
      MKOSI_RUNTIME: runtimeDir,
      MKOSI_MACHINE: machine.name,
      MKOSI_KIND: directory ? "directory" : "disk",
      MKOSI_IMAGE: image,
      MKOSI_EPHEMERAL: directory && runtime.Ephemeral ? "1" : "",
      MKOSI_SETTINGS: runtime.NSpawnSettings ?? "",
    };
    return await runForeground(
      [unshare, "--mount", "--propagation=private", "--", "sh", "-c", NAMESPACE_SCRIPT, "sh", ...args],
      { env, debug: request.debug },
    );
  } finally {
    await scratch.dispose();
  }
}
