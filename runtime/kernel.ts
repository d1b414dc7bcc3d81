// The kernel and initrd of direct kernel boot (Firmware=linux): Linux= if given, else the split
// artifacts next to the output (<output>.vmlinuz, <output>.initrd), else for a directory image the
// newest kernel installed in it (/usr/lib/modules/<version>/vmlinuz or /boot/vmlinuz-<version>) and its
// initrd.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { RuntimeError } from "./host.js";
import { type Machine, splitArtifact } from "./machine.js";

export interface BootFiles {
  kernel: string;
  initrds: string[];
}

const byVersion = (a: string, b: string) => a.localeCompare(b, undefined, { numeric: true });

function installedKernel(root: string): BootFiles | null {
  const candidates: { version: string; kernel: string; initrd: string | null }[] = [];
  const modules = join(root, "usr/lib/modules");
  for (const version of existsSync(modules) ? readdirSync(modules) : []) {
    const kernel = join(modules, version, "vmlinuz");
    if (!existsSync(kernel)) continue;
    const initrd = [join(modules, version, "initrd"), join(root, "boot", `initrd.img-${version}`)].find(
      existsSync,
    );
    candidates.push({ version, kernel, initrd: initrd ?? null });
  }
  const boot = join(root, "boot");
  for (const name of existsSync(boot) ? readdirSync(boot) : []) {
    const match = /^vmlinuz-(.+)$/.exec(name);
    if (!match?.[1] || candidates.some((c) => c.version === match[1])) continue;
    const initrd = [join(boot, `initrd.img-${match[1]}`), join(boot, `initramfs-${match[1]}.img`)].find(
      existsSync,
    );
    candidates.push({ version: match[1], kernel: join(boot, name), initrd: initrd ?? null });
  }
  const newest = candidates.sort((a, b) => byVersion(a.version, b.version)).pop();
  return newest ? { kernel: newest.kernel, initrds: newest.initrd ? [newest.initrd] : [] } : null;
}

export function bootFiles(machine: Machine, withInitrd: boolean): BootFiles {
  const { runtime, image } = machine;
  const splitKernel = splitArtifact(machine, "vmlinuz");
  const splitInitrd = splitArtifact(machine, "initrd");
  let files: BootFiles | null = null;
  if (runtime.Linux) {
    if (!existsSync(runtime.Linux)) throw new RuntimeError(`Linux=${runtime.Linux} does not exist`);
    files = { kernel: runtime.Linux, initrds: splitInitrd ? [splitInitrd] : [] };
  } else if (splitKernel) {
    files = { kernel: splitKernel, initrds: splitInitrd ? [splitInitrd] : [] };
  } else if (image.Format === "directory") {
    files = installedKernel(machine.output);
  }
  if (!files)
    throw new RuntimeError(
      `No kernel to boot ${machine.output} with: install one in the image (e.g. linux-image-amd64) or give Linux=`,
    );
  // A cpio image is itself the initrd (after the kernel's own, if any).
  if (image.Format === "cpio") files.initrds.push(machine.output);
  if (!withInitrd) files.initrds = [];
  return files;
}
