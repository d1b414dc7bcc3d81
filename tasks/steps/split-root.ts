// split-root: the split artifacts made from the finished image tree (SplitArtifacts=): `os-release`
// copies its os-release to <Output>.osrelease, `tar` archives the tree as <Output>.tar[.<comp>]
// (compressed per CompressOutput=, as Format=tar would; a Format=tar image's output already is that file).
//
// Key: the image's last layer, the settings naming and shaping the files, and the host's tar and
// compressors when the archive is made.
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import type { Json, NodeId, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import { rootSplitArtifacts } from "../../formats/descriptor.js";
import { outputNames } from "../../formats/naming.js";
import { formatOf } from "../../formats/registry.js";
import type { OutputConfig } from "../../formats/types.js";
import { pathExists } from "../fsutil.js";
import { hostTools } from "../hosttools.js";
import { withStackReadOnly } from "../layers.js";
import { outputNaming, splitArtifacts } from "../outputs.js";
import { imageBelow, type Step } from "../step.js";

interface Params {
  naming: OutputConfig & Record<string, Json>;
  artifacts: string[];
  compressLevel: number | null;
  sourceDateEpoch: number | null;
  image: NodeId;
  /** Programs the archive is made with (the tar format's), when `tar` is made: host inputs. */
  tools: string[];
}

const task: TaskDefinition<Params> = {
  name: "split-root",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => ({
    values: {
      ...p.naming,
      Artifacts: p.artifacts,
      CompressLevel: p.compressLevel,
      SourceDateEpoch: p.sourceDateEpoch,
    },
    paths: hostTools(p.tools),
    deps: { image: p.image },
  }),
  async run(ctx, p) {
    const names = outputNames(p.naming);
    await withStackReadOnly(ctx, ctx.deps.image!, async (root) => {
      if (p.artifacts.includes("os-release")) {
        const found = [join(root, "usr/lib/os-release"), join(root, "etc/os-release")];
        let source: string | undefined;
        for (const candidate of found) if (!source && (await pathExists(candidate))) source = candidate;
        if (!source) throw new Error("SplitArtifacts=os-release: the image has no /usr/lib/os-release");
        await copyFile(source, join(ctx.out, names.splitOsRelease));
      }
      if (p.artifacts.includes("tar")) {
        const { makeTar } = await import("../../formats/tar.js");
        await makeTar(root, join(ctx.out, names.tar), {
          compression: p.naming.CompressOutput,
          level: p.compressLevel,
          sourceDateEpoch: p.sourceDateEpoch,
          signal: ctx.signal,
        });
      }
    });
    return undefined;
  },
};

export const splitRoot: Step<Params> = {
  name: "split-root",
  task,
  reads: [
    "Format",
    "Output",
    "OutputExtension",
    "CompressOutput",
    "CompressLevel",
    "SourceDateEpoch",
    "SplitArtifacts",
  ],
  unkeyed: {
    SplitArtifacts:
      "keyed as Artifacts: the split artifacts this step makes (os-release, tar), not the others",
  },
  layer: false,
  wanted: (image) => formatOf(image.Format).steps(image).includes("split-root"),
  params: (context) => {
    const { image } = context;
    const artifacts = rootSplitArtifacts({
      Format: String(image.Format),
      SplitArtifacts: splitArtifacts(image),
    });
    return {
      naming: outputNaming(image),
      artifacts,
      compressLevel: (image.CompressLevel as number | null) ?? null,
      sourceDateEpoch: image.SourceDateEpoch,
      image: imageBelow(context, "split-root"),
      tools: artifacts.includes("tar") ? [...formatOf("tar").tools] : [],
    };
  },
};
