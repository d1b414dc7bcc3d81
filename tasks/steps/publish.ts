// Publish: the last step. Stages the outputs (the flattened tree for Format=directory, copies of the
// output, checksum and manifest artifacts otherwise), runs post-output scripts on the staging directory,
// then moves everything into OutputDirectory= with OutputMode= and the <Output> symlink. Its key covers
// what it publishes and where; the build forces it when the output at the path is not the one this key
// published (tasks/published.ts keeps that record). A directory output is updated in place from the layers
// that changed when the record vouches for the previous one, and copied whole otherwise.

import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { DeclaredInputs, DepOutput, Json, NodeId, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import { outputNames } from "../../formats/naming.js";
import { formatOf } from "../../formats/registry.js";
import type { TerminalHandoff } from "../../sandbox/run.js";
import { runScripts } from "../../sandbox/scripts.js";
import { debugShellOf } from "../env.js";
import { pathExists } from "../fsutil.js";
import type { ImageView } from "../image.js";
import { stackKeys } from "../layers.js";
import { FILE_STEPS, outputDirectory } from "../outputs.js";
import type { Update } from "../outputtree.js";
import {
  claimOutputs,
  forgetPublished,
  ownsOutput,
  readPublished,
  readPublishedListing,
  retireOutputs,
  settleOutputs,
  writePublished,
} from "../published.js";
import { declareScriptInputs, type ScriptInputs, scriptInputs, scriptRunBase } from "../scriptinputs.js";
import type { Step } from "../step.js";

interface Params {
  image: ImageView;
  outputDirectory: string;
  values: Record<string, Json>;
  scripts: ScriptInputs;
  uid: number;
  gid: number;
  /** Where the record of what was published lives (tasks/published.ts); not an input. */
  cacheDir: string;
  /** Format=directory: the last image layer, flattened into the output. */
  tree: NodeId | undefined;
  /** Artifacts whose files are published as they are (output, checksum, manifest). */
  files: NodeId[];
  /** Layers of script steps (postinst, finalize) whose $OUTPUTDIR files are published. */
  scriptOutputs: NodeId[];
  /** --debug-shell (not an input: it only acts after a failure). */
  debugShell?: TerminalHandoff;
}

function inputs(p: Params): DeclaredInputs {
  const declared = declareScriptInputs(p.scripts);
  const deps: Record<string, NodeId> = {};
  if (p.tree) deps.tree = p.tree;
  p.files.forEach((id, i) => {
    deps[`files:${i}`] = id;
  });
  for (const id of p.scriptOutputs) deps[`outputdir:${id}`] = id;
  return {
    values: { ...p.values, ...declared.values, OutputDirectory: p.outputDirectory },
    paths: [
      ...declared.paths,
      ...(p.values.NSpawnSettings ? [["NSpawnSettings", String(p.values.NSpawnSettings)] as const] : []),
    ],
    secrets: declared.secrets,
    env: declared.env,
    deps,
  };
}

/**
 * What identifies the published files, so that the output digest of this node (which images reading
 * them key on, see crossimage.ts) changes exactly when they do: the digests of what was published and
 * the settings that shape the files (names, modes, times). Post-output scripts and an nspawn settings
 * file can change anything: then this node's key stands for the content.
 */
function publishedContent(deps: Record<string, DepOutput>, p: Params, key: string): Json {
  const digests: Record<string, string> = {};
  for (const [label, dep] of Object.entries(deps)) digests[label] = dep.digest;
  const opaque = p.scripts.scripts.length > 0 || p.values.NSpawnSettings !== null;
  return { digests, values: { ...p.values, OutputDirectory: p.outputDirectory }, ...(opaque ? { key } : {}) };
}

const task: TaskDefinition<Params> = {
  name: "publish",
  // Its product is the output directory: running it again would act on the user's output.
  checkable: false,
  implementation: implementationDigest(import.meta.url),
  inputs,
  async run(ctx, p) {
    const names = outputNames(p.image);
    await mkdir(p.outputDirectory, { recursive: true });
    const main = join(p.outputDirectory, names.withCompression);
    const previous = await readPublished(p.cacheDir, main);
    const recorded = previous && (await readPublishedListing(p.cacheDir, previous));
    // From here on the output may change: nothing vouches for it until the new record is written.
    await forgetPublished(p.cacheDir, main);
    // Stage next to the output directory so the final moves are renames on one filesystem.
    const staging = await mkdtemp(join(p.outputDirectory, ".mkosi-staging-"));
    const top = ctx.deps.tree;
    const trees = top && (await import("../outputtree.js"));
    const { createOutputSymlink, finalizeStaging } = await import("../../formats/outputdir.js");
    const { copyNspawnSettings } = await import("../../formats/nspawn.js");
    const { copyTree } = await import("../../sandbox/overlay.js");
    let update: Update | undefined;
    try {
      if (top && trees) {
        update = await trees.placeTree(ctx, {
          tree: top,
          epoch: p.image.SourceDateEpoch,
          current: join(p.outputDirectory, names.withFormat),
          target: join(staging, names.withFormat),
          // Post-output scripts may fail, and must not take the previous output with them.
          incremental: p.scripts.scripts.length === 0,
          previous,
          recorded,
        });
        await copyNspawnSettings(p.image.NSpawnSettings, staging, names.nspawn);
      }
      for (const [label, dep] of Object.entries(ctx.deps)) {
        if (label.startsWith("files:")) await copyTree(dep.dir, staging);
        // Files scripts wrote to $OUTPUTDIR (the layer artifact's "output" directory, if any).
        if (label.startsWith("outputdir:") && (await pathExists(join(dep.dir, "output"))))
          await copyTree(join(dep.dir, "output"), staging);
      }
      await runScripts({
        ...scriptRunBase(ctx, p),
        outputDir: staging,
      });
      await createOutputSymlink(staging, names);
      const published = (await readdir(staging)).sort();
      // Only what this cache published may be replaced (a user's file at an output name stops the build);
      // what moves in is ours from now on, even if the moves are interrupted.
      await claimOutputs(p.cacheDir, main, staging, published);
      await finalizeStaging(staging, p.outputDirectory, names, {
        outputMode: p.image.OutputMode,
        mayReplace: (name) => ownsOutput(p.cacheDir, main, join(p.outputDirectory, name)),
      });
      await settleOutputs(p.cacheDir, main, published);
      for (const name of await retireOutputs(p.cacheDir, main, published))
        ctx.log(`removed ${name}, which an earlier build published and this one does not`);
      const record = { path: main, key: ctx.key };
      if (top && trees) {
        await writePublished(p.cacheDir, record, {
          stack: stackKeys(ctx, top),
          listing: await trees.recordListing(main, update, ctx.signal),
          epoch: p.image.SourceDateEpoch,
          scripts: p.scripts.scripts.length > 0,
          snapshot: await trees.treeSnapshot(main, { signal: ctx.signal }),
        });
      } else await writePublished(p.cacheDir, record);
      return { meta: { published, content: publishedContent(ctx.deps, p, ctx.key) } };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  },
};

export const publish: Step<Params> = {
  name: "publish",
  task,
  // Post-output scripts see the whole configuration; without them publishing reads what names and places
  // the outputs.
  reads: (image) =>
    image.PostOutputScripts.length > 0
      ? "all"
      : [
          "Format",
          "Output",
          "OutputExtension",
          "CompressOutput",
          "OutputMode",
          "OutputDirectory",
          "SourceDateEpoch",
          "NSpawnSettings",
          "PostOutputScripts",
        ],
  unkeyed: {
    Seed: "random on every invocation unless configured; $MKOSI_CONFIG in keys leaves it out",
  },
  layer: false,
  wanted: (image) => formatOf(image.Format).steps(image).includes("publish"),
  params: ({ image, env, prev, nodes }) => {
    const files = [...FILE_STEPS, "checksum", "manifest"]
      .map((step) => nodes[step])
      .filter((id): id is NodeId => !!id);
    return {
      image,
      outputDirectory: outputDirectory(image, env.configDir),
      values: {
        Format: image.Format,
        Output: image.Output,
        OutputExtension: image.OutputExtension,
        OutputMode: image.OutputMode,
        SourceDateEpoch: image.SourceDateEpoch,
        NSpawnSettings: image.NSpawnSettings,
      },
      scripts: scriptInputs("postoutput", image.PostOutputScripts, image, env),
      uid: env.uid,
      gid: env.gid,
      cacheDir: env.cacheDir,
      // A tree format without a producer step (directory) is the image's last layer itself.
      tree: formatOf(image.Format).kind === "tree" && !nodes.output ? prev : undefined,
      files,
      scriptOutputs: ["postinst", "finalize"].map((step) => nodes[step]).filter((id): id is NodeId => !!id),
      debugShell: debugShellOf(env),
    };
  },
};
