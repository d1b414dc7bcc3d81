// boot-scan: the cut-off point between the image and everything that boots it. It collects the files
// the kernel, initrd, UKI and bootloader steps read (kernels and their modules, firmware, the EFI stub
// and systemd-boot, grub's modules, os-release, /etc/kernel) from the finished image into its artifact,
// as hard links of the image layers' files (no copy). It reruns whenever the image changes, in a moment;
// its output digest only changes when one of those files does, so a change elsewhere in the image (an
// extra tree, a config file) leaves the kernel, initrd, UKI and bootloader steps cached.
import { chmod, chown, copyFile, link, lstat, mkdir, readdir, readlink, symlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { NodeId, TaskContext, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import { formatOf } from "../../formats/registry.js";
import { LAYER_TREE, stackDirs, stackKeys, withStackReadOnly } from "../layers.js";
import { imageBelow, type Step } from "../step.js";

/** What the boot steps read from the image (relative to its root). */
export const BOOT_PATHS = [
  "boot",
  "etc/kernel",
  "etc/os-release",
  "usr/lib/os-release",
  "usr/lib/kernel",
  "usr/lib/modules",
  "usr/lib/firmware",
  "usr/lib/systemd/boot/efi",
  "usr/lib/grub",
  "usr/share/grub",
  "usr/lib/shim",
  "usr/lib/linux-image",
];

interface Params {
  image: NodeId;
}

async function lstatOrUndefined(path: string) {
  return lstat(path).catch(() => undefined);
}

/** Recreate `rel` (and below) of the merged view `root` in `out`: directories and links as they are,
 * files as hard links of the topmost layer holding them (`layers` top first). */
async function collect(root: string, layers: string[], out: string, rel: string): Promise<number> {
  const st = await lstatOrUndefined(join(root, rel));
  if (!st) return 0;
  const dest = join(out, rel);
  if (st.isDirectory()) {
    await mkdir(dest, { recursive: true });
    let n = 0;
    for (const name of (await readdir(join(root, rel))).sort())
      n += await collect(root, layers, out, join(rel, name));
    await chown(dest, st.uid, st.gid);
    await chmod(dest, st.mode & 0o7777);
    return n;
  }
  await mkdir(dirname(dest), { recursive: true });
  if (st.isSymbolicLink()) {
    await symlink(await readlink(join(root, rel)), dest);
    return 1;
  }
  if (!st.isFile()) return 0;
  for (const layer of layers) {
    const candidate = join(layer, rel);
    const found = await lstatOrUndefined(candidate);
    if (!found) continue;
    if (found.isFile()) {
      await link(candidate, dest);
      return 1;
    }
    break;
  }
  // Not found as a plain file in a layer (cannot happen with whole-file copy-up): copy it.
  await copyFile(join(root, rel), dest);
  await chown(dest, st.uid, st.gid);
  await chmod(dest, st.mode & 0o7777);
  return 1;
}

const task: TaskDefinition<Params> = {
  name: "boot-scan",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => ({ deps: { image: p.image } }),
  async run(ctx: TaskContext) {
    const top = ctx.deps.image!;
    const layers = stackDirs(ctx, stackKeys(top)).reverse();
    const out = join(ctx.out, LAYER_TREE);
    await mkdir(out, { recursive: true });
    const files = await withStackReadOnly(ctx, top, async (root) => {
      let n = 0;
      for (const rel of BOOT_PATHS) n += await collect(root, layers, out, rel);
      return n;
    });
    ctx.log(`collected ${files} boot files`);
    return undefined;
  },
};

export const bootScan: Step<Params> = {
  name: "boot-scan",
  task,
  reads: [],
  layer: false,
  wanted: (image) => formatOf(image.Format).steps(image).includes("boot-scan"),
  params: (context) => ({ image: imageBelow(context, "boot-scan") }),
};
