// kernel: per installed kernel (usr/lib/modules/<kver> with a vmlinuz there or Debian's
// /boot/vmlinuz-<kver>), the kernel image and the kernel-modules initrd (KernelModulesInitrd=: the
// modules KernelInitrdModules= selects, their dependencies, the firmware they ask for, and the module
// metadata), plus a microcode initrd when the image ships microcode. Reads only boot-scan's artifact,
// so it is keyed by the kernel files and the filters.
import { link, lstat, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { NodeId, TaskContext, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import { type BootConfig, imageIsInitrd, usesPrebuiltUkis } from "../../formats/boot.js";
import { formatOf } from "../../formats/registry.js";
import type { KernelMeta } from "../bootfiles.js";
import { LAYER_TREE } from "../layers.js";
import type { Step } from "../step.js";

interface Params {
  scan: NodeId;
  /** The settings as read (the key), and what follows from them. */
  settings: {
    Format: string;
    Distribution: string;
    Release: string;
    KernelModulesInitrd: boolean;
    KernelInitrdModules: string[];
    KernelModulesInitrdExclude: string[];
    SourceDateEpoch: number | null;
    /** The UKIs are the image's pre-built ones (Bootloader=*-signed): no kernel-modules initrd. */
    PrebuiltUkis?: true;
  };
  modulesInitrd: boolean;
  include: string[];
  exclude: string[];
  defaults: string[];
  compression: string;
  sourceDateEpoch: number | null;
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

/** Installed kernels of a tree, newest first: (version, path of the kernel image relative to root). */
export async function findKernels(root: string): Promise<{ version: string; image: string }[]> {
  const versions = await readdir(join(root, "usr/lib/modules")).catch(() => [] as string[]);
  const found: { version: string; image: string }[] = [];
  for (const version of versions) {
    for (const image of [
      `usr/lib/modules/${version}/vmlinuz`,
      `usr/lib/modules/${version}/vmlinux`,
      `boot/vmlinuz-${version}`,
      `boot/vmlinux-${version}`,
    ]) {
      if (await exists(join(root, image))) {
        found.push({ version, image });
        break;
      }
    }
  }
  return found.sort((a, b) => b.version.localeCompare(a.version, undefined, { numeric: true }));
}

async function listModules(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, rel), { withFileTypes: true })) {
    const path = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listModules(dir, path)));
    else if (/\.ko(\.(xz|zst|gz))?$/.test(entry.name)) out.push(path);
  }
  return out;
}

/** Every parent directory of the given relative paths, plus the paths. */
function withParents(paths: string[]): string[] {
  const all = new Set<string>();
  for (const p of paths) {
    const parts = p.split("/");
    for (let i = 1; i <= parts.length; i++) all.add(parts.slice(0, i).join("/"));
  }
  return [...all];
}

async function modulesInitrd(ctx: TaskContext, p: Params, root: string, version: string, dest: string) {
  const kmod = await import("../../formats/kmod.js");
  const { makeCpio } = await import("../../formats/cpio.js");
  const base = `usr/lib/modules/${version}`;
  const all = await listModules(join(root, base));
  const patterns = [...p.include, ...p.exclude.map((e) => `-${e}`)];
  const selected = kmod.selectModules(all, patterns, p.defaults);
  const depText = await readFile(join(root, base, "modules.dep"), "utf8").catch(() => "");
  const modules = kmod.withDependencies(selected, kmod.parseModulesDep(depText));
  const firmware = new Set<string>();
  for (const m of modules) {
    for (const fw of await kmod.moduleFirmware(join(root, base, m))) {
      for (const candidate of [fw, `${fw}.xz`, `${fw}.zst`])
        if (await exists(join(root, "usr/lib/firmware", candidate)))
          firmware.add(`usr/lib/firmware/${candidate}`);
    }
  }
  const metadata = (await readdir(join(root, base)))
    .filter((n) => n.startsWith("modules."))
    .map((n) => `${base}/${n}`);
  const leaves = [...modules.map((m) => `${base}/${m}`), ...metadata, ...firmware];
  const files = withParents(leaves);
  ctx.log(`kernel ${version}: ${modules.length} of ${all.length} modules, ${firmware.size} firmware files`);
  // cpio keeps mtimes: with SourceDateEpoch= the files (depmod's metadata is as new as the build, the
  // directories as new as boot-scan) are archived from a private copy clamped to the epoch.
  let source = root;
  if (p.sourceDateEpoch !== null) {
    source = join(ctx.tmp, `modules-${version}`);
    await mkdir(source, { recursive: true });
    for (let i = 0; i < leaves.length; i += 500)
      await ctx.exec("cp", ["-a", "--parents", "-t", source, "--", ...leaves.slice(i, i + 500)], {
        cwd: root,
      });
    const { normalizeMtime } = await import("../../formats/mtime.js");
    await normalizeMtime(source, p.sourceDateEpoch);
  }
  await makeCpio(source, dest, {
    files,
    compression: p.compression,
    sourceDateEpoch: p.sourceDateEpoch,
    clampMtimes: false,
    ownerRoot: true,
    signal: ctx.signal,
  });
}

/** The early microcode initrd: kernel/x86/microcode/{GenuineIntel,AuthenticAMD}.bin. */
async function microcodeInitrd(ctx: TaskContext, p: Params, root: string, dest: string): Promise<boolean> {
  const staging = join(ctx.tmp, "microcode");
  const target = join(staging, "kernel/x86/microcode");
  let any = false;
  for (const [dir, name] of [
    ["intel-ucode", "GenuineIntel.bin"],
    ["amd-ucode", "AuthenticAMD.bin"],
  ] as const) {
    const files = (await readdir(join(root, "usr/lib/firmware", dir)).catch(() => [] as string[])).sort();
    if (files.length === 0) continue;
    await mkdir(target, { recursive: true });
    const parts = await Promise.all(files.map((f) => readFile(join(root, "usr/lib/firmware", dir, f))));
    await writeFile(join(target, name), Buffer.concat(parts));
    any = true;
  }
  if (!any) return false;
  const { makeCpio } = await import("../../formats/cpio.js");
  await makeCpio(staging, dest, {
    compression: "none",
    sourceDateEpoch: p.sourceDateEpoch ?? 0,
    ownerRoot: true,
  });
  return true;
}

const task: TaskDefinition<Params> = {
  name: "kernel",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => ({
    values: { ...p.settings, DefaultInitrdModules: p.defaults },
    deps: { scan: p.scan },
  }),
  async run(ctx, p) {
    const root = join(ctx.deps.scan!.dir, LAYER_TREE);
    const kernels = await findKernels(root);
    for (const kernel of kernels) {
      const dir = join(ctx.out, kernel.version);
      await mkdir(dir, { recursive: true });
      await link(join(root, kernel.image), join(dir, "vmlinuz"));
      if (p.modulesInitrd) await modulesInitrd(ctx, p, root, kernel.version, join(dir, "modules.initrd"));
    }
    const microcode = await microcodeInitrd(ctx, p, root, join(ctx.out, "microcode.initrd"));
    const meta: KernelMeta = { kernels, microcode };
    return { meta };
  },
};

export const kernel: Step<Params> = {
  name: "kernel",
  task,
  reads: [
    "Format",
    "Distribution",
    "Release",
    "KernelModulesInitrd",
    "KernelInitrdModules",
    "KernelModulesInitrdExclude",
    "SourceDateEpoch",
    "Bootloader",
    "UnifiedKernelImages",
  ],
  unkeyed: {
    Bootloader: "only whether the UKIs are pre-built (PrebuiltUkis)",
    UnifiedKernelImages: "only whether the UKIs are pre-built (PrebuiltUkis)",
  },
  layer: false,
  wanted: (image) => formatOf(image.Format).steps(image).includes("kernel"),
  params: ({ image, nodes, initrd }) => {
    // Older Debian and Ubuntu releases ship uncompressed modules: compress the initrd instead.
    const uncompressed =
      image.Distribution === "debian" && ["sid", "testing", "unstable"].includes(image.Release);
    const prebuilt = usesPrebuiltUkis(image as BootConfig);
    return {
      scan: nodes["boot-scan"]!,
      settings: {
        Format: image.Format,
        Distribution: image.Distribution,
        Release: image.Release,
        KernelModulesInitrd: image.KernelModulesInitrd as boolean,
        KernelInitrdModules: (image.KernelInitrdModules as string[] | undefined) ?? [],
        KernelModulesInitrdExclude: (image.KernelModulesInitrdExclude as string[] | undefined) ?? [],
        SourceDateEpoch: image.SourceDateEpoch,
        // Only when set: the other images' keys stay as they were.
        ...(prebuilt ? { PrebuiltUkis: true as const } : {}),
      },
      // An image that is its own initrd (Format=uki, esp) has its modules already; a pre-built UKI
      // has its own initrd.
      modulesInitrd: image.KernelModulesInitrd !== false && !imageIsInitrd(image as BootConfig) && !prebuilt,
      include: (image.KernelInitrdModules as string[] | undefined) ?? [],
      exclude: (image.KernelModulesInitrdExclude as string[] | undefined) ?? [],
      defaults: initrd?.kernelModules ?? [],
      compression: uncompressed ? "none" : "zstd",
      sourceDateEpoch: image.SourceDateEpoch,
    };
  },
};
