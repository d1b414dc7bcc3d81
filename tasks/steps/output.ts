// The output format (Format=tar, cpio; directory is placed by publish), checksum and signature
// (Checksum=, Sign=, Key=) and manifest (ManifestFormat=) steps. Each writes its files into its own
// artifact; publish moves copies of them into the output directory.

import { copyFile, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { InstalledPackage } from "../../distros/index.js";
import type { Json, NodeId, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import { outputNames } from "../../formats/naming.js";
import type { OutputConfig } from "../../formats/types.js";
import { hostTools } from "../hosttools.js";
import type { ImageView } from "../image.js";
import { withStackReadOnly } from "../layers.js";
import { imageBelow, type Step } from "../step.js";

type Slice = OutputConfig & Record<string, Json>;

/** What output file names derive from (formats/naming.ts). */
function naming(image: ImageView): Slice {
  return {
    Format: image.Format,
    Image: image.Image,
    Output: image.Output,
    OutputExtension: image.OutputExtension,
    CompressOutput: image.CompressOutput,
  };
}

// Each step's config slice is exactly what it reads: its declared values.

function outputConfig(image: ImageView): Slice {
  return {
    ...naming(image),
    CompressLevel: image.CompressLevel,
    SourceDateEpoch: image.SourceDateEpoch,
    NSpawnSettings: image.NSpawnSettings,
  };
}

function checksumConfig(image: ImageView): Slice {
  return {
    ...naming(image),
    Checksum: image.Checksum,
    Sign: image.Sign,
    Key: image.Key,
    OpenPGPTool: image.OpenPGPTool,
    // $GNUPGHOME for gpg may come from Environment=.
    Environment: image.Environment,
  };
}

function manifestConfig(image: ImageView): Slice {
  return {
    ...naming(image),
    ManifestFormat: image.ManifestFormat,
    ImageId: image.ImageId,
    ImageVersion: image.ImageVersion,
    Distribution: image.Distribution,
    Release: image.Release,
    Architecture: image.Architecture,
  };
}

interface OutputParams {
  config: Slice;
  image: NodeId;
}

const outputTask: TaskDefinition<OutputParams> = {
  name: "output",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => ({
    values: p.config,
    paths: [
      ...(p.config.NSpawnSettings ? [["NSpawnSettings", p.config.NSpawnSettings] as const] : []),
      ...hostTools(["tar", "cpio", "zstd", "xz", "gzip"]),
    ],
    deps: { image: p.image },
  }),
  async run(ctx, p) {
    const staging = ctx.out;
    const image = ctx.deps.image!;
    const { produceCpio, produceTar } = await import("../../formats/produce.js");
    const { copyNspawnSettings } = await import("../../formats/nspawn.js");
    const { copyTree } = await import("../../sandbox/overlay.js");
    const produced = await withStackReadOnly(ctx, image, async (root) => {
      if (p.config.Format === "tar")
        return produceTar({ root, staging, config: p.config, signal: ctx.signal });
      if (p.config.Format === "cpio") {
        // cpio has no clamp option: SourceDateEpoch= needs a private copy whose times can be changed.
        const copy = join(ctx.tmp, "flat");
        await copyTree(root, copy, ctx.signal);
        return produceCpio({ root: copy, staging, config: p.config, ownsRoot: true, signal: ctx.signal });
      }
      throw new Error(`Format=${p.config.Format} is not supported yet`);
    });
    const names = outputNames(p.config);
    await copyNspawnSettings(p.config.NSpawnSettings, staging, names.nspawn);
    return { meta: { files: produced.files } };
  },
};

export const output: Step<OutputParams> = {
  name: "output",
  task: outputTask,
  reads: [
    "Format",
    "Output",
    "OutputExtension",
    "CompressOutput",
    "CompressLevel",
    "SourceDateEpoch",
    "NSpawnSettings",
  ],
  layer: false,
  wanted: (image) => image.Format !== "none" && image.Format !== "directory",
  params: (context) => {
    const { image } = context;
    const prev = imageBelow(context, "output");
    return { config: outputConfig(image), image: prev };
  },
};

interface ChecksumParams {
  config: Slice;
  output: NodeId;
}

const checksumTask: TaskDefinition<ChecksumParams> = {
  name: "checksum",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => ({
    values: p.config,
    // A key file (sop) is read; a gpg key id names a key in the keyring, which is not fingerprinted.
    paths: p.config.Key?.startsWith("/") ? [["Key", p.config.Key]] : undefined,
    deps: { output: p.output },
  }),
  async run(ctx, p) {
    const names = outputNames(p.config);
    const staging = join(ctx.tmp, "staging");
    const { writeChecksums } = await import("../../formats/checksum.js");
    const { signChecksums } = await import("../../formats/sign.js");
    const { copyTree } = await import("../../sandbox/overlay.js");
    await mkdir(staging, { recursive: true });
    await copyTree(ctx.deps.output!.dir, staging, ctx.signal);
    await writeChecksums(staging, names.checksum);
    await signChecksums(staging, names, p.config, { signal: ctx.signal });
    const written = await readdir(staging);
    for (const name of [names.checksum, names.signature]) {
      if (written.includes(name)) await copyFile(join(staging, name), join(ctx.out, name));
    }
    return undefined;
  },
};

export const checksum: Step<ChecksumParams> = {
  name: "checksum",
  task: checksumTask,
  reads: [
    "Format",
    "Output",
    "OutputExtension",
    "CompressOutput",
    "Checksum",
    "Sign",
    "Key",
    "OpenPGPTool",
    "Environment",
  ],
  layer: false,
  wanted: (image) =>
    image.Format !== "none" && image.Format !== "directory" && (image.Checksum || image.Sign),
  params: ({ image, nodes }) => ({ config: checksumConfig(image), output: nodes.output! }),
};

interface ManifestParams {
  config: Slice;
  cleanup: NodeId;
}

const manifestTask: TaskDefinition<ManifestParams> = {
  name: "manifest",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => ({ values: p.config, deps: { packages: p.cleanup } }),
  async run(ctx, p) {
    const meta = ctx.deps.packages!.meta as { packages?: InstalledPackage[] } | null;
    const { writeManifests } = await import("../../formats/manifest.js");
    await writeManifests(ctx.out, outputNames(p.config), {
      config: p.config,
      packages: meta?.packages ?? [],
    });
    return undefined;
  },
};

export const manifest: Step<ManifestParams> = {
  name: "manifest",
  task: manifestTask,
  reads: [
    "Format",
    "Output",
    "OutputExtension",
    "CompressOutput",
    "ManifestFormat",
    "ImageId",
    "ImageVersion",
    "Distribution",
    "Release",
    "Architecture",
  ],
  layer: false,
  wanted: (image) => image.Format !== "none" && image.ManifestFormat.length > 0,
  params: ({ image, nodes }) => ({ config: manifestConfig(image), cleanup: nodes.cleanup! }),
};
