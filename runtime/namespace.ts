// A private mount namespace (util-linux unshare) holding a tmpfs runtime directory in which the image is
// put in place for the program that runs it (systemd-nspawn, virtiofsd), which is then exec'd there.
// Nothing of it is left on the host when the program ends, however it ends:
//   <runtime>/<machine>          a directory image: a bind mount of the output, or with Ephemeral=yes an
//                                overlay on it whose upper layer lives in the tmpfs (a throwaway copy
//                                that costs nothing to make, gone with the namespace)
//   <runtime>/<machine>.raw      a disk image: a bind mount of the file, or where the program cannot
//                                dissect it (nspawn without udev) <runtime>/<machine>, the root partition
//                                mounted through a loop device at its offset
//   <runtime>/<machine>.nspawn   NSpawnSettings=, where nspawn looks with --settings=trusted
import { join } from "node:path";
import { requireTool } from "./tools.js";

const SCRIPT = `set -e
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
elif [ -n "$MKOSI_ROOT_OFFSET" ]; then
  mkdir "$root"
  mount -o "loop,offset=$MKOSI_ROOT_OFFSET,sizelimit=$MKOSI_ROOT_SIZE" "$MKOSI_IMAGE" "$root"
else
  : > "$root.raw"
  mount --bind "$MKOSI_IMAGE" "$root.raw"
fi
if [ -n "$MKOSI_SETTINGS" ]; then cp "$MKOSI_SETTINGS" "$root.nspawn"; fi
exec "$@"`;

export interface ImageNamespace {
  /** The empty host directory the namespace mounts its tmpfs on. */
  runtimeDir: string;
  machine: string;
  kind: "directory" | "disk";
  /** The output (or an ephemeral copy of a disk image). */
  image: string;
  /** Overlay a directory image (Ephemeral=yes). */
  ephemeral: boolean;
  nspawnSettings?: string | null;
  /** A disk image's root partition, mounted by the namespace instead of handing over the file. */
  rootPartition?: { offset: number; size: number };
}

/** Where the program sees the image: the directory, or the disk image file. */
export function namespacedImage(ns: ImageNamespace): string {
  const root = join(ns.runtimeDir, ns.machine);
  return ns.kind === "directory" || ns.rootPartition ? root : `${root}.raw`;
}

/** The command line and environment that run `argv` in the namespace. */
export function inImageNamespace(
  ns: ImageNamespace,
  argv: string[],
): { argv: string[]; env: NodeJS.ProcessEnv } {
  const unshare = requireTool("unshare");
  for (const [what, path] of [
    ["image", ns.image],
    ["runtime directory", ns.runtimeDir],
  ] as const)
    if (/[,:\\]/.test(path) && ns.ephemeral)
      throw new Error(`the ${what} path ${path} has a character overlayfs cannot take (, : \\)`);
  return {
    argv: [unshare, "--mount", "--propagation=private", "--", "sh", "-c", SCRIPT, "sh", ...argv],
    env: {
      ...process.env,
      MKOSI_RUNTIME: ns.runtimeDir,
      MKOSI_MACHINE: ns.machine,
      MKOSI_KIND: ns.kind,
      MKOSI_IMAGE: ns.image,
      MKOSI_EPHEMERAL: ns.kind === "directory" && ns.ephemeral ? "1" : "",
      MKOSI_SETTINGS: ns.nspawnSettings ?? "",
      MKOSI_ROOT_OFFSET: ns.rootPartition ? String(ns.rootPartition.offset) : "",
      MKOSI_ROOT_SIZE: ns.rootPartition ? String(ns.rootPartition.size) : "",
    },
  };
}
