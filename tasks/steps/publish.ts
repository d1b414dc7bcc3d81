// Publish: the last step. Stages the outputs (the flattened tree for Format=directory, copies of the
// output, checksum and manifest artifacts otherwise), runs post-output scripts on the staging directory,
// then moves everything into OutputDirectory= with OutputMode= and the <Output> symlink. Its key covers
// what it publishes and where; the build forces it when the output at the path is not the one this key
// published (tasks/published.ts keeps that record). A directory output is updated in place from the layers
// that changed when the record vouches for the previous one, and copied whole otherwise.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type {
  DeclaredInputs,
  DepOutput,
  Json,
  NodeId,
  TaskContext,
  TaskDefinition,
} from "../../engine/api.js";
import { normalizeMtime, normalizeMtimeOf } from "../../formats/mtime.js";
import { outputNames } from "../../formats/naming.js";
import { copyNspawnSettings } from "../../formats/nspawn.js";
import { createOutputSymlink, finalizeStaging } from "../../formats/outputdir.js";
import {
  applyTreeUpdate,
  parseSerializedListing,
  pathsUnder,
  planTreeUpdate,
  sameListing,
  serializeListing,
  type TreeUpdatePlan,
  treeListing,
} from "../../formats/treeupdate.js";
import { copyTree } from "../../sandbox/overlay.js";
import { runScripts } from "../../sandbox/scripts.js";
import type { ImageView } from "../image.js";
import { stackDirs, stackKeys, withStackReadOnly } from "../layers.js";
import { outputDirectory } from "../outputs.js";
import {
  forgetPublished,
  type PublishedRecord,
  readPublished,
  readPublishedListing,
  writePublished,
} from "../published.js";
import { declareScriptInputs, type ScriptInputs, scriptInputs } from "../scriptinputs.js";
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

/** The image stack's layer directories, or undefined when one of them has left the cache. */
function layerDirs(ctx: TaskContext, keys: string[]): string[] | undefined {
  try {
    const dirs = stackDirs(ctx, keys);
    return dirs.every((dir) => existsSync(dir)) ? dirs : undefined;
  } catch {
    return undefined;
  }
}

/** What an incremental update did, for the listing of its result. */
interface Update {
  plan: TreeUpdatePlan;
  /** The previous output's listing. */
  before: Map<string, string>;
}

/**
 * Format=directory, incrementally: when the record says the previous output is the merged view of an older
 * stack of this image, and its listing shows nobody changed it since, it is moved into the staging
 * directory and brought up to date from the layers that differ between the two stacks
 * (formats/treeupdate.ts). Returns undefined (having touched nothing) when that is not possible.
 *
 * While the update runs, the output path is absent (the tree is in the staging directory, and no record
 * vouches for it): an interrupted update leaves no output and no record, never a half-updated output.
 */
async function updateTree(
  ctx: TaskContext,
  p: Params,
  previous: PublishedRecord | undefined,
  recorded: string | undefined,
  current: string,
  target: string,
): Promise<Update | undefined> {
  const tree = ctx.deps.tree!;
  const old = previous?.tree;
  if (!previous || !old || old.scripts || old.epoch !== p.image.SourceDateEpoch) return undefined;
  const stack = stackKeys(tree);
  let common = 0;
  while (common < Math.min(stack.length, old.stack.length) && stack[common] === old.stack[common]) common++;
  // Nothing shared (the base layer changed): the whole tree is new anyway.
  if (common === 0) return undefined;
  const changed = layerDirs(ctx, [...old.stack.slice(common), ...stack.slice(common)]);
  if (!changed || recorded === undefined) return undefined;
  const before = await treeListing(current, undefined, { signal: ctx.signal });
  if (!sameListing(before, parseSerializedListing(recorded))) {
    ctx.log(`${current} was changed since it was published: copying the whole tree`);
    return undefined;
  }
  const candidates = await pathsUnder(changed);
  return withStackReadOnly(ctx, tree, async (root) => {
    const plan = await planTreeUpdate(root, current, candidates);
    if (typeof plan === "string") {
      ctx.log(`copying the whole tree: ${plan}`);
      return undefined;
    }
    await rename(current, target);
    await applyTreeUpdate(root, target, plan, ctx.tmp, { signal: ctx.signal });
    await normalizeMtimeOf(target, plan.transfer, p.image.SourceDateEpoch);
    ctx.log(
      `updated ${plan.transfer.length} and removed ${plan.remove.length} entries of the previous output`,
    );
    return { plan, before };
  });
}

/**
 * The listing of the output after an update: the previous listing with the removed entries dropped and
 * the written ones (and the root, which was moved) listed again. Undefined when the update may have
 * changed entries it did not list: replacing or removing a file that has other names changes their link
 * count and change time.
 */
async function listingAfter(
  main: string,
  update: Update,
  signal: AbortSignal,
): Promise<Map<string, string> | undefined> {
  const { plan, before } = update;
  const replaced = new Set(plan.transfer);
  const removed = new Set(plan.remove);
  const after = new Map<string, string>();
  for (const [path, meta] of before) {
    const gone = removed.has(path) || ancestorsOf(path).some((a) => removed.has(a));
    const [type, nlink] = meta.split(" ", 2);
    if ((gone || replaced.has(path)) && type !== "d" && Number(nlink) > 1) return undefined;
    if (!gone) after.set(path, meta);
  }
  const fresh = await treeListing(main, ["", ...plan.transfer.filter((path) => path !== ".")], { signal });
  for (const [path, meta] of fresh) after.set(path, meta);
  return after;
}

function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) out.push(path.slice(0, i));
  return out;
}

/** Format=directory: a fresh copy of the merged image tree at `target`. */
async function copyWholeTree(ctx: TaskContext, p: Params, tree: DepOutput, target: string): Promise<void> {
  await withStackReadOnly(ctx, tree, (root) => copyTree(root, target, ctx.signal));
  await normalizeMtime(target, p.image.SourceDateEpoch);
}

const task: TaskDefinition<Params> = {
  name: "publish",
  version: 2,
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
    let update: Update | undefined;
    try {
      if (ctx.deps.tree) {
        const current = join(p.outputDirectory, names.withFormat);
        const target = join(staging, names.withFormat);
        // Post-output scripts may fail, and must not take the previous output with them.
        if (p.scripts.scripts.length === 0)
          update = await updateTree(ctx, p, previous, recorded, current, target);
        if (!update) await copyWholeTree(ctx, p, ctx.deps.tree, target);
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
      });
      await createOutputSymlink(staging, names);
      const published = (await readdir(staging)).sort();
      await finalizeStaging(staging, p.outputDirectory, names, { outputMode: p.image.OutputMode });
      const record = { path: main, key: ctx.key };
      if (ctx.deps.tree) {
        const listing =
          (update && (await listingAfter(main, update, ctx.signal))) ??
          (await treeListing(main, undefined, { signal: ctx.signal }));
        await writePublished(p.cacheDir, record, {
          stack: stackKeys(ctx.deps.tree),
          listing: serializeListing(listing),
          epoch: p.image.SourceDateEpoch,
          scripts: p.scripts.scripts.length > 0,
        });
      } else await writePublished(p.cacheDir, record);
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
      cacheDir: env.cacheDir,
      tree: image.Format === "directory" ? prev : undefined,
      files,
    };
  },
};
