// One `mkosi build`: plan the graph for all images, decide what must be refreshed or forced (CacheOnly=,
// Incremental=, -f, --rerun-build-scripts), run it on the engine and report.
import { rm } from "node:fs/promises";
import { preflight } from "../distros/preflight.js";
import type { Engine, EngineEvent, NodeExplanation, NodeId, RunSummary } from "../engine/api.js";
import type { PlanEnv } from "./env.js";
import type { ImageView } from "./image.js";
import { outputPaths } from "./outputs.js";
import { distroConfig } from "./packaging.js";
import { type BuildPlan, planBuild, planSync } from "./plan.js";
import { foreignOutputs, foreignOutputsMessage, type OutputState, outputState } from "./published.js";

export interface BuildRequest {
  images: ImageView[];
  /** The default tools tree's image (ToolsTree=default), if any. */
  tools?: ImageView | null;
  /** The default initrds' configurations by image name (plan.ts planInitrds). */
  initrds?: ReadonlyMap<string, ImageView>;
  env: PlanEnv;
  engine: Engine;
  onEvent?: (event: EngineEvent) => void;
  signal?: AbortSignal;
}

export interface BuildResult {
  plan: BuildPlan;
  summary: RunSummary;
  /** Nothing ran: every output was already up to date. */
  upToDate: boolean;
  /** Outputs changed since they were published, kept as they are (the configuration still builds what was
   * published there; -f replaces them). */
  kept?: string[];
}

/** -f: remove outputs; -ff: also forget this config's cache entries; -fff: also the package cache. */
export async function applyForce(plan: BuildPlan, env: PlanEnv, engine: Engine): Promise<void> {
  const force = env.options.force;
  if (force >= 1) {
    for (const { image } of plan.images) {
      for (const path of outputPaths(image, env.configDir)) await rm(path, { recursive: true, force: true });
    }
  }
  if (force >= 2) await engine.forget(plan.nodes.map((node) => node.id));
  if (force >= 3) await rm(env.packageCacheDir, { recursive: true, force: true });
}

/** Cached here, or in the remote cache (pulled instead of run): either way it will not run. */
function servedFromCache(status: NodeExplanation["status"] | undefined): boolean {
  return status === "cached" || status === "remote";
}

/** An output path holds something this tool did not publish there (a user's file or directory). */
export class ForeignOutputError extends Error {
  constructor(readonly paths: string[]) {
    super(foreignOutputsMessage(paths));
    this.name = "ForeignOutputError";
  }
}

/**
 * Before any work: the outputs of every image whose publish step will run must be absent or published by
 * this cache (tasks/published.ts); a user's file or directory at an output path is replaced only with -f
 * (which removed them already).
 */
export async function checkOutputsOwned(
  plan: BuildPlan,
  env: PlanEnv,
  explanations: NodeExplanation[],
  forced: NodeId[],
): Promise<void> {
  const status = new Map(explanations.map((e) => [e.id, e.status]));
  const foreign: string[] = [];
  for (const image of plan.images) {
    const publish = image.publish;
    if (!publish || (servedFromCache(status.get(publish)) && !forced.includes(publish))) continue;
    foreign.push(...(await foreignOutputs(env.cacheDir, outputPaths(image.image, env.configDir))));
  }
  if (foreign.length > 0) throw new ForeignOutputError(foreign);
}

/** The state of each image's main output (tasks/published.ts), by its publish node. Started before the cache
 * is consulted so that the listing of a directory output (a `find`) runs alongside it. */
export function checkPublished(
  plan: BuildPlan,
  env: PlanEnv,
): Map<NodeId, Promise<OutputState & { path: string }>> {
  const checks = new Map<NodeId, Promise<OutputState & { path: string }>>();
  for (const image of [...(plan.tools ? [plan.tools] : []), ...plan.images]) {
    const [main] = outputPaths(image.image, env.configDir);
    if (!image.publish || !main) continue;
    const check = outputState(env.cacheDir, main).then((state) => ({ ...state, path: main }));
    check.catch(() => undefined);
    checks.set(image.publish, check);
  }
  return checks;
}

/** Outputs changed since they were published (a boot that was not ephemeral, an edit by hand): their
 * changes are the user's. Kept when the configuration still builds what was published there; a build that
 * would replace one stops before any work unless -f removed it. */
export class ChangedOutputError extends Error {
  constructor(readonly paths: string[]) {
    super(
      `${paths.join(", ")} ${paths.length === 1 ? "was" : "were"} changed since mkosi published ${
        paths.length === 1 ? "it" : "them"
      } (a boot or shell that was not ephemeral, or an edit), and building would replace ${
        paths.length === 1 ? "it" : "them"
      }, losing those changes. Use --force to replace ${paths.length === 1 ? "it" : "them"}, or Ephemeral=yes to run images without changing them.`,
    );
    this.name = "ChangedOutputError";
  }
}

/** Which nodes must run even though their key is cached; which changed outputs are kept as they are. */
export async function forcedNodes(
  plan: BuildPlan,
  env: PlanEnv,
  explanations: NodeExplanation[],
  published: Map<NodeId, Promise<OutputState & { path: string }>> = checkPublished(plan, env),
): Promise<{ forced: NodeId[]; kept: string[] }> {
  const byId = new Map(explanations.map((e) => [e.id, e]));
  const status = new Map(explanations.map((e) => [e.id, e.status]));
  const forced: NodeId[] = [];
  const kept: string[] = [];
  const changed: string[] = [];
  for (const image of [...(plan.tools ? [plan.tools] : []), ...plan.images]) {
    const publish = image.publish ? byId.get(image.publish) : undefined;
    const state = publish ? await published.get(publish.id) : undefined;
    if (publish && state) {
      // Pulled from the remote cache counts as cached: it is not the local output either way.
      const cached = servedFromCache(publish.status);
      if (state.changed) {
        // The user's changes: kept when the configuration still builds what was published there.
        if (cached && state.record?.key === publish.key) kept.push(state.path);
        else changed.push(state.path);
      } else if (cached && (!state.present || !state.record || state.record.key !== publish.key)) {
        // Removed, never recorded, or published by other inputs (an older key): publish again.
        forced.push(publish.id);
      }
    }
    if (env.options.rerunBuildScripts && image.nodes.build) forced.push(image.nodes.build);
    const metadata = image.nodes.metadata;
    if (
      metadata &&
      servedFromCache(status.get(metadata)) &&
      wantsMetadataRefresh(image.image, image, status, env.options.force)
    )
      forced.push(metadata);
  }
  if (changed.length > 0) throw new ChangedOutputError(changed);
  return { forced, kept };
}

/**
 * CacheOnly= decides whether the repository metadata is synced again. `always` and `metadata`: never.
 * `-f` (as upstream's forced sync): always otherwise; the steps that install packages key on the synced
 * metadata's digest, so they rerun only if the repositories changed. `never`: on every build that runs
 * anything. `auto`: unless the cached image (Incremental=) is usable, and only when something that
 * installs packages has to run anyway, so a plain rebuild never touches the network.
 */
function wantsMetadataRefresh(
  image: ImageView,
  plan: BuildPlan["images"][number],
  status: Map<NodeId, NodeExplanation["status"]>,
  force: number,
): boolean {
  const mode = image.CacheOnly;
  if (mode === "always" || mode === "metadata") return false;
  if (force >= 1) return true;
  const installers = ["bootstrap", "packages", "build-overlay", "volatile-packages"]
    .map((step) => plan.nodes[step])
    .filter((id): id is NodeId => id !== undefined);
  const runs = (id: NodeId) => !servedFromCache(status.get(id));
  const anyRuns = installers.some(runs);
  if (mode === "never") return Object.values(plan.nodes).some(runs);
  if (image.Incremental !== "no") return anyRuns && plan.imageCache.some(runs);
  return anyRuns;
}

type DoneEvent = Extract<EngineEvent, { type: "done" }>;

/** One "done" for two consecutive runs. `shared` nodes (the default tools tree's, which the sync run
 * builds first) are in both runs and are reported cached by the second: count them once. */
function foldDone(first: DoneEvent, second: DoneEvent, shared: number): DoneEvent {
  return {
    type: "done",
    time: second.time,
    ok: first.ok && second.ok,
    ran: first.ran + second.ran,
    cached: first.cached + Math.max(0, second.cached - shared),
    failed: first.failed + second.failed,
    savedMs: first.savedMs + second.savedMs,
  };
}

/** Can this machine build every image's distribution? Before any work (see distros/preflight.ts). */
function checkDistributions(images: ImageView[], tools: ImageView | null | undefined): void {
  const of = (image: ImageView, toolsTree: string | null) => ({
    name: image.Image,
    config: distroConfig(image),
    toolsTree,
    sandboxTrees: image.SandboxTrees,
  });
  // The default tools tree is built with the host's programs.
  preflight([...(tools ? [of(tools, null)] : []), ...images.map((image) => of(image, image.ToolsTree))]);
}

export async function build(request: BuildRequest): Promise<BuildResult> {
  const { images, env, engine } = request;
  checkDistributions(images, request.tools);
  const syncNodes = planSync(images, env, request.tools);
  // Sync scripts run first, in a run of their own; the user sees one build, so their run's "done" is
  // folded into the image graph's (or shown alone when they fail).
  let syncDone: DoneEvent | undefined;
  if (syncNodes.length > 0) {
    const synced = await engine.run(syncNodes, {
      signal: request.signal,
      onEvent: (event) => {
        if (event.type === "done") syncDone = event;
        else request.onEvent?.(event);
      },
    });
    if (!synced.ok) {
      if (syncDone) request.onEvent?.(syncDone);
      return {
        plan: planBuild(images, env, request.tools, request.initrds),
        summary: synced,
        upToDate: false,
      };
    }
  }
  const plan = planBuild(images, env, request.tools, request.initrds);
  const syncIds = new Set(syncNodes.map((node) => node.id));
  const shared = plan.nodes.filter((node) => syncIds.has(node.id)).length;
  await applyForce(plan, env, engine);
  const published = checkPublished(plan, env);
  const explanations = await engine.explain(plan.nodes);
  const { forced: forceRun, kept } = await forcedNodes(plan, env, explanations, published);
  await checkOutputsOwned(plan, env, explanations, forceRun);
  const strict = new Set(
    plan.images.filter((image) => image.image.Incremental === "strict").flatMap((image) => image.imageCache),
  );
  const summary = await engine.run(plan.nodes, {
    forceRun,
    check: env.options.check,
    signal: request.signal,
    onEvent: (event) =>
      request.onEvent?.(event.type === "done" && syncDone ? foldDone(syncDone, event, shared) : event),
    forbidRun: (explanation) =>
      strict.has(explanation.id)
        ? `Incremental=strict: the cached image for ${explanation.group ?? explanation.id} is out of date`
        : undefined,
  });
  return { plan, summary, upToDate: summary.ok && summary.ran.length === 0, kept };
}
