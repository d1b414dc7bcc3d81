// split: the boot artifacts next to the output (SplitArtifacts= uki, kernel, initrd, pcrs): <Output>.efi
// (the newest kernel's UKI), <Output>.vmlinuz, <Output>.initrd (the initrds in boot order, concatenated as
// the UKI's .initrd section holds them) and <Output>.pcrs (the newest UKI's PCR policy digests). Copies of
// the boot steps' artifacts, under the output's names; with a pre-built UKI (Bootloader=*-signed), the
// kernel and initrd are its .linux and .initrd sections, as upstream splits them.
import { copyFile, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Json, NodeId, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import { splitSteps } from "../../formats/boot.js";
import { outputNames } from "../../formats/naming.js";
import { formatOf } from "../../formats/registry.js";
import type { OutputConfig } from "../../formats/types.js";
import { type KernelMeta, PCRS_FILE, SHAPE_ONLY } from "../bootfiles.js";
import { LAYER_TREE } from "../layers.js";
import { outputNaming, splitArtifacts } from "../outputs.js";
import { peSection } from "../pe.js";
import type { Step } from "../step.js";

interface Params {
  naming: OutputConfig & Record<string, Json>;
  artifacts: string[];
  splitArtifacts: string[];
  uki: NodeId;
  kernel: NodeId;
  initrd: NodeId | null;
}

const task: TaskDefinition<Params> = {
  name: "split",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => ({
    values: { ...p.naming, SplitArtifacts: p.splitArtifacts, Artifacts: p.artifacts },
    deps: { uki: p.uki, kernel: p.kernel, ...(p.initrd ? { initrd: p.initrd } : {}) },
  }),
  async run(ctx, p) {
    const names = outputNames(p.naming);
    const meta = ctx.deps.kernel!.meta as unknown as KernelMeta;
    const newest = meta.kernels[0];
    if (!newest) return undefined;
    const kernelDir = ctx.deps.kernel!.dir;
    const ukiMeta = ctx.deps.uki!.meta as { entries?: string[]; prebuilt?: boolean } | null;
    const entries = (ukiMeta?.entries ?? []).filter((e) => e.toLowerCase().endsWith(".efi"));
    // A pre-built UKI (Bootloader=*-signed) holds the kernel and initrd that boot: its sections.
    // Read only when a section is wanted (a UKI is tens of megabytes).
    const wantsSections = p.artifacts.includes("kernel") || p.artifacts.includes("initrd");
    const prebuilt =
      ukiMeta?.prebuilt && entries[0] && wantsSections
        ? await readFile(join(ctx.deps.uki!.dir, LAYER_TREE, "efi", entries[0]))
        : undefined;
    const section = (name: string) => {
      const content = peSection(prebuilt!, name, `the pre-built UKI ${entries[0]}`);
      if (!content) throw new Error(`the pre-built UKI ${entries[0]} has no ${name} section`);
      return content;
    };
    if (p.artifacts.includes("uki") && entries[0])
      await copyFile(join(ctx.deps.uki!.dir, LAYER_TREE, "efi", entries[0]), join(ctx.out, names.splitUki));
    // Format=uki: the newest kernel's UKI is the output.
    if (p.artifacts.includes("main")) {
      if (!entries[0]) throw new Error("Format=uki: the image has no kernel to make a UKI of");
      await copyFile(join(ctx.deps.uki!.dir, LAYER_TREE, "efi", entries[0]), join(ctx.out, names.withFormat));
    }
    // Absent when the build signs the expected PCR measurements itself (the uki step says so).
    if (p.artifacts.includes("pcrs"))
      await copyFile(join(ctx.deps.uki!.dir, PCRS_FILE), join(ctx.out, names.splitPcrs)).catch((e) => {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      });
    if (p.artifacts.includes("kernel")) {
      if (prebuilt) await writeFile(join(ctx.out, names.splitKernel), section(".linux"));
      else await copyFile(join(kernelDir, newest.version, "vmlinuz"), join(ctx.out, names.splitKernel));
    }
    if (p.artifacts.includes("initrd") && prebuilt)
      await writeFile(join(ctx.out, names.splitInitrd), section(".initrd"));
    else if (p.artifacts.includes("initrd")) {
      const parts: Buffer[] = [];
      if (meta.microcode) parts.push(await readFile(join(kernelDir, "microcode.initrd")));
      // Format=uki, esp: the image's own initrd, kept by the uki step.
      const own = await readFile(join(ctx.deps.uki!.dir, "image-initrd/initrd")).catch(() => undefined);
      if (own) parts.push(own);
      if (ctx.deps.initrd) {
        const dir = ctx.deps.initrd.dir;
        for (const name of (await readdir(dir)).sort()) parts.push(await readFile(join(dir, name)));
      }
      const modules = await readFile(join(kernelDir, newest.version, "modules.initrd")).catch(
        () => undefined,
      );
      if (modules) parts.push(modules);
      await writeFile(join(ctx.out, names.splitInitrd), Buffer.concat(parts));
    }
    return undefined;
  },
};

export const split: Step<Params> = {
  name: "split",
  task,
  reads: [
    "Format",
    "Output",
    "OutputExtension",
    "CompressOutput",
    "SplitArtifacts",
    "Bootable",
    "Bootloader",
    "BiosBootloader",
    "Packages",
    "VolatilePackages",
    "Initrds",
    "RepartDirectories",
  ],
  unkeyed: SHAPE_ONLY,
  layer: false,
  wanted: (image) => formatOf(image.Format).steps(image).includes("split"),
  params: ({ image, nodes, initrd }) => ({
    naming: outputNaming(image),
    artifacts: splitSteps(image),
    splitArtifacts: splitArtifacts(image),
    uki: nodes.uki!,
    kernel: nodes.kernel!,
    initrd: initrd?.node ?? null,
  }),
};
