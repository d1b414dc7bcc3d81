// The output step (the format's producer, from the registry in formats/, on the finished image; directory
// is placed by publish), checksum and signature (Checksum=, Sign=, Key=) and manifest (ManifestFormat=)
// steps. Each writes its files into its own artifact; publish moves copies of them into the output
// directory. Which of them an image has is its format descriptor's say (`steps`).
import { copyFile, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { type InstalledPackage, packageTypeOf } from "../../distros/index.js";
import type { Json, NodeId, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import { outputNames } from "../../formats/naming.js";
import { formatOf } from "../../formats/registry.js";
import type { OutputConfig } from "../../formats/types.js";
import { hostTools } from "../hosttools.js";
import type { ImageView } from "../image.js";
import { withStackReadOnly } from "../layers.js";
import { FILE_STEPS, outputNaming as naming } from "../outputs.js";
import type { SettingName } from "../settings-view.js";
import { imageBelow, type Step } from "../step.js";

type Slice = OutputConfig & Record<string, Json>;

// Each step's config slice is exactly what it reads: its declared values.

function outputConfig(image: ImageView): Slice {
  return {
    ...naming(image),
    CompressLevel: image.CompressLevel,
    SourceDateEpoch: image.SourceDateEpoch,
    NSpawnSettings: image.NSpawnSettings,
    // Settings the format's producer reads beyond these (its descriptor's `settings`).
    ...Object.fromEntries(
      (formatOf(image.Format).settings ?? []).map((name) => [
        name,
        (image as unknown as Record<string, Json>)[name] ?? null,
      ]),
    ),
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
  /** Programs the format's producer runs (its descriptor's `tools`). */
  tools: string[];
}

const outputTask: TaskDefinition<OutputParams> = {
  name: "output",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => ({
    values: p.config,
    paths: [
      ...(p.config.NSpawnSettings ? [["NSpawnSettings", p.config.NSpawnSettings] as const] : []),
      ...hostTools(p.tools),
    ],
    deps: { image: p.image },
  }),
  async run(ctx, p) {
    const staging = ctx.out;
    const image = ctx.deps.image!;
    const { producerFor } = await import("../../formats/index.js");
    const { copyNspawnSettings } = await import("../../formats/nspawn.js");
    const produce = await producerFor(p.config.Format);
    const produced = await withStackReadOnly(ctx, image, (root) =>
      produce({ root, staging, config: p.config, tmp: ctx.tmp, signal: ctx.signal }),
    );
    const names = outputNames(p.config);
    await copyNspawnSettings(p.config.NSpawnSettings, staging, names.nspawn);
    return { meta: { files: produced.files } };
  },
};

/** Whether the image's format has this tail step. */
function formatHas(image: ImageView, step: string): boolean {
  return formatOf(image.Format).steps(image).includes(step);
}

export const output: Step<OutputParams> = {
  name: "output",
  task: outputTask,
  // Plus what the format's producer reads (its descriptor's `settings`).
  reads: (image) => [
    "Format",
    "Output",
    "OutputExtension",
    "CompressOutput",
    "CompressLevel",
    "SourceDateEpoch",
    "NSpawnSettings",
    ...((formatOf(image.Format).settings ?? []) as SettingName[]),
  ],
  layer: false,
  wanted: (image) => formatHas(image, "output"),
  params: (context) => {
    const { image } = context;
    const format = formatOf(image.Format);
    const prev = imageBelow(context, "output");
    return { config: outputConfig(image), image: prev, tools: [...format.tools] };
  },
};

interface ChecksumParams {
  config: Slice;
  /** The nodes whose files are summed (FILE_STEPS). */
  files: NodeId[];
}

const checksumTask: TaskDefinition<ChecksumParams> = {
  name: "checksum",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => ({
    values: p.config,
    // A key file (sop) is read; a gpg key id names a key in the keyring, which is not fingerprinted.
    paths: p.config.Key?.startsWith("/") ? [["Key", p.config.Key]] : undefined,
    deps: Object.fromEntries(p.files.map((id, i) => [i === 0 ? "output" : `files:${i}`, id])),
  }),
  async run(ctx, p) {
    const names = outputNames(p.config);
    const staging = join(ctx.tmp, "staging");
    const { writeChecksums } = await import("../../formats/checksum.js");
    const { signChecksums } = await import("../../formats/sign.js");
    const { copyTree } = await import("../../sandbox/overlay.js");
    await mkdir(staging, { recursive: true });
    for (const dep of Object.values(ctx.deps)) await copyTree(dep.dir, staging, ctx.signal);
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
  wanted: (image) => formatHas(image, "checksum"),
  params: ({ image, nodes }) => ({
    config: checksumConfig(image),
    files: FILE_STEPS.map((step) => nodes[step]).filter((id): id is NodeId => !!id),
  }),
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
      packageType: packageTypeOf(String(p.config.Distribution)),
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
  wanted: (image) => formatHas(image, "manifest"),
  params: ({ image, nodes }) => ({ config: manifestConfig(image), cleanup: nodes.cleanup! }),
};
