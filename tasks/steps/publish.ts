// Publish: the last step. Stages the outputs (the flattened tree for Format=directory, copies of the
// output, checksum and manifest artifacts otherwise), runs post-output scripts on the staging directory,
// then moves everything into OutputDirectory= with OutputMode= and the <Output> symlink. Its key covers
// what it publishes and where; the build forces it when the published files have gone missing.
import { lstat, mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type {
  DeclaredInputs,
  DepOutput,
  Json,
  NodeId,
  TaskContext,
  TaskDefinition,
} from "../../engine/api.js";
import { normalizeMtime } from "../../formats/mtime.js";
import { outputNames } from "../../formats/naming.js";
import { copyNspawnSettings } from "../../formats/nspawn.js";
import { createOutputSymlink, finalizeStaging } from "../../formats/outputdir.js";
import { copyTree } from "../../sandbox/overlay.js";
import type { TerminalHandoff } from "../../sandbox/run.js";
import { runScripts } from "../../sandbox/scripts.js";
import { debugShellOf } from "../env.js";
import type { ImageView } from "../image.js";
import { withStackReadOnly } from "../layers.js";
import { outputDirectory } from "../outputs.js";
import { declareScriptInputs, type ScriptInputs, scriptInputs } from "../scriptinputs.js";
import type { Step } from "../step.js";

interface Params {
  image: ImageView;
  outputDirectory: string;
  values: Record<string, Json>;
  scripts: ScriptInputs;
  uid: number;
  gid: number;
  /** Format=directory: the last image layer, flattened into the output. */
  tree: NodeId | undefined;
  /** Artifacts whose files are published as they are (output, checksum, manifest). */
  files: NodeId[];
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
  return {
    values: { ...p.values, ...declared.values, OutputDirectory: p.outputDirectory },
    paths: {
      ...declared.paths,
      ...(p.values.NSpawnSettings ? { NSpawnSettings: String(p.values.NSpawnSettings) } : {}),
    },
    env: declared.env,
    deps,
  };
}

/**
 * Format=directory: the merged image tree becomes `target`. When a previous output exists, start from
 * hard links to it and let rsync replace what differs: rsync writes changed files to new inodes and
 * renames them in, so the previous output stays intact until the final swap, and a one-file change
 * costs a tree walk instead of a full copy.
 */
async function placeTree(ctx: TaskContext, tree: DepOutput, previous: string, target: string): Promise<void> {
  const old = await lstat(previous).catch(() => undefined);
  await withStackReadOnly(ctx, tree, async (root) => {
    if (!old?.isDirectory()) return copyTree(root, target, ctx.signal);
    await ctx.exec("cp", ["-al", previous, target]);
    await ctx.exec("rsync", ["-aHAX", "--numeric-ids", "--delete", `${root}/`, `${target}/`]);
  });
}

const task: TaskDefinition<Params> = {
  name: "publish",
  version: 2,
  inputs,
  async run(ctx, p) {
    const names = outputNames(p.image);
    await mkdir(p.outputDirectory, { recursive: true });
    // Stage next to the output directory so the final moves are renames on one filesystem.
    const staging = await mkdtemp(join(p.outputDirectory, ".mkosi-staging-"));
    try {
      if (ctx.deps.tree) {
        await placeTree(
          ctx,
          ctx.deps.tree,
          join(p.outputDirectory, names.withFormat),
          join(staging, names.withFormat),
        );
        await normalizeMtime(join(staging, names.withFormat), p.image.SourceDateEpoch);
        await copyNspawnSettings(p.image.NSpawnSettings, staging, names.nspawn);
      }
      for (const [label, dep] of Object.entries(ctx.deps)) {
        if (label.startsWith("files:")) await copyTree(dep.dir, staging);
      }
      await runScripts({
        kind: "postoutput",
        scripts: p.scripts.scripts,
        config: p.image,
        configJson: p.scripts.configJson,
        outputDir: staging,
        workDir: join(ctx.tmp, "scripts"),
        uid: p.uid,
        gid: p.gid,
        signal: ctx.signal,
        onOutput: (line, stream) => ctx.log(line, stream),
        debugShell: p.debugShell,
      });
      await createOutputSymlink(staging, names);
      const published = (await readdir(staging)).sort();
      await finalizeStaging(staging, p.outputDirectory, names, { outputMode: p.image.OutputMode });
      return { meta: { published } };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  },
};

export const publish: Step<Params> = {
  name: "publish",
  task,
  layer: false,
  wanted: (image) => image.Format !== "none",
  params: ({ image, env, prev, nodes }) => {
    const files = ["output", "checksum", "manifest"]
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
      scripts: scriptInputs("postoutput", image.PostOutputScripts, image, env, false),
      uid: env.uid,
      gid: env.gid,
      tree: image.Format === "directory" ? prev : undefined,
      files,
      debugShell: debugShellOf(env),
    };
  },
};
