// addon (Format=addon): a PE addon for systemd-stub, made by ukify with the addon stub. It carries the
// kernel command line (KernelCommandLine=, after the image's /etc/kernel/cmdline) and the image itself as
// an extra initrd (a cpio compressed with CompressOutput=), signed for SecureBoot when asked. The stub is
// the image's own (systemd-boot-efi) or else the tools tree's. An image with a kernel also gets
// <Output>.vmlinuz (SplitArtifacts=kernel), as upstream writes it.
//
// Key: the image (its last layer), the command line, the compression, the signing settings and keys, and
// the tools (ukify, the tools tree's stub).
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Json, NodeId, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import { addonStub, efiArch } from "../../formats/boot.js";
import { makeCpio } from "../../formats/cpio.js";
import { outputNames } from "../../formats/naming.js";
import { formatOf } from "../../formats/registry.js";
import type { OutputConfig } from "../../formats/types.js";
import type { BindMount } from "../../sandbox/run.js";
import { copyFirstStub } from "../bootfiles.js";
import { withStackReadOnly } from "../layers.js";
import { outputNaming, splitArtifacts } from "../outputs.js";
import {
  type SecureBootKeys,
  secureBootBinds,
  secureBootKeyPaths,
  secureBootPaths,
  signs,
} from "../secureboot.js";

import { imageBelow, type Step } from "../step.js";
import { checkTools } from "../toolcheck.js";
import { runTool } from "../toolrun.js";
import { type ToolsTree, toolInputs, withToolInputs, withToolsTree } from "../toolstree.js";
import { findKernels } from "./kernel.js";
import { commandLine, secureBootArgs, ukiNeeds } from "./uki.js";

interface Params {
  image: NodeId;
  naming: OutputConfig & Record<string, Json>;
  values: {
    KernelCommandLine: string[];
    Architecture: string;
    SecureBoot: boolean;
    SecureBootSignTool: string;
    SourceDateEpoch: number | null;
    /** SplitArtifacts= holds kernel: an image with a kernel gets <Output>.vmlinuz beside the addon. */
    SplitKernel: boolean;
  };
  secureBootKey: string | null;
  secureBootCertificate: string | null;
  tools: ToolsTree | null;
}

function keysOf(p: Params): SecureBootKeys {
  return { enabled: p.values.SecureBoot, key: p.secureBootKey, certificate: p.secureBootCertificate };
}

const task: TaskDefinition<Params> = {
  name: "addon",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => {
    const paths = secureBootPaths(keysOf(p));
    // A tools tree given as a path: its stub is read too (an image's tools tree is a dependency).
    if (p.tools?.kind === "path" && !p.tools.producers)
      paths.push(["tools:addon-stub", { path: join(p.tools.path, addonStub(p.values.Architecture)) }]);
    return withToolInputs(
      {
        values: { ...(p.values as unknown as Record<string, Json>), ...p.naming },
        paths,
        deps: { image: p.image },
      },
      toolInputs(p.tools, ["ukify", "sbsign", "systemd-sbsign"]),
    );
  },
  run: (ctx, p) =>
    withToolsTree(ctx, p.tools, async (tools) => {
      const v = p.values;
      const work = join(ctx.tmp, "addon");
      await mkdir(work, { recursive: true });
      const stub = addonStub(v.Architecture);
      const compression = p.naming.CompressOutput === "none" ? "none" : String(p.naming.CompressOutput);
      await withStackReadOnly(ctx, ctx.deps.image!, async (root) => {
        await makeCpio(root, join(work, "initrd"), {
          compression,
          clampMtimes: false,
          ownerRoot: true,
          signal: ctx.signal,
        });
        const cmdline = await commandLine(root, v.KernelCommandLine);
        await writeFile(join(work, "cmdline"), cmdline.join(" "));
        // As upstream: the image's newest kernel next to the addon (SplitArtifacts=kernel).
        const kernel = v.SplitKernel ? (await findKernels(root))[0] : undefined;
        if (kernel)
          await copyFile(join(root, kernel.image), join(ctx.out, outputNames(p.naming).splitKernel));
        const roots = [root, ...(tools ? [tools.root] : [])];
        if (!(await copyFirstStub(roots, stub, join(work, "addon.efi.stub"))))
          throw new Error(
            `Format=addon needs the addon stub /${stub}, in the image or the tools tree (Debian: systemd-boot-efi)`,
          );
      });
      const binds: BindMount[] = [{ src: work, dst: "/work/out" }];
      const argv = [
        "ukify",
        "build",
        "--initrd=/work/out/initrd",
        `--efi-arch=${efiArch(v.Architecture)}`,
        "--stub=/work/out/addon.efi.stub",
        "--cmdline=@/work/out/cmdline",
        "--output=/work/out/addon.efi",
      ];
      if (signs(keysOf(p))) {
        binds.push(...secureBootBinds(keysOf(p)));
        argv.push(...secureBootArgs(v.SecureBootSignTool));
      }
      await runTool(ctx, tools, argv, {
        binds,
        env: v.SourceDateEpoch !== null ? { SOURCE_DATE_EPOCH: String(v.SourceDateEpoch) } : {},
      });
      await copyFile(join(work, "addon.efi"), join(ctx.out, outputNames(p.naming).withFormat));
      return undefined;
    }),
};

export const addonStep: Step<Params> = {
  name: "addon",
  task,
  reads: (image) => [
    "Format",
    "Output",
    "OutputExtension",
    "CompressOutput",
    "KernelCommandLine",
    "Architecture",
    "SecureBoot",
    "SecureBootSignTool",
    "SourceDateEpoch",
    "SplitArtifacts",
    ...(image.SecureBoot === true ? (["SecureBootKey", "SecureBootCertificate"] as const) : []),
  ],
  unkeyed: { SplitArtifacts: "only whether it holds kernel (SplitKernel)" },
  layer: false,
  wanted: (image) => formatOf(image.Format).steps(image).includes("addon"),
  params: (context) => {
    const { image, tools } = context;
    checkTools(context, ukiNeeds());
    return {
      image: imageBelow(context, "addon"),
      naming: outputNaming(image),
      values: {
        KernelCommandLine: (image.KernelCommandLine as string[] | undefined) ?? [],
        Architecture: image.Architecture,
        SecureBoot: image.SecureBoot === true,
        SecureBootSignTool: String(image.SecureBootSignTool ?? "auto"),
        SourceDateEpoch: image.SourceDateEpoch,
        SplitKernel: splitArtifacts(image).includes("kernel"),
      },
      ...secureBootKeyPaths(image),
      tools,
    };
  },
};
