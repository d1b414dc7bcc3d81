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
  mayPublish: (publish: NodeId) => boolean,
): Promise<void> {
  const foreign: string[] = [];
  const changed: string[] = [];
  for (const image of plan.images) {
    const publish = image.publish;
    if (!publish || !mayPublish(publish)) continue;
    const paths = outputPaths(image.image, env.configDir);
    foreign.push(...(await foreignOutputs(env.cacheDir, paths)));
    // The main output of an earlier Format= or Output= now in the way of another output (a directory
    // where a tar's symlink goes): replaced like the main output, so not when it was changed.
    for (const path of paths.slice(1))
      if ((await outputState(env.cacheDir, path)).changed) changed.push(path);
  }
  if (foreign.length > 0) throw new ForeignOutputError(foreign);
  if (changed.length > 0) throw new ChangedOutputError(changed);
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

/**
 * Whether a cached publish step's output is still what that key published: present, recorded for that key,
 * and not changed since. A changed one is the user's: it is kept (accepted) when the key is the one that
 * published it, and otherwise the step may not run (see `changedOutput`). Decided when the publish step's
 * key is final (after early cutoff), not while planning.
 */
export function acceptPublished(state: OutputState, key: string): boolean {
  if (state.changed) return state.record?.key === key;
  return state.present && state.record?.key === key;
}

/** Which nodes must run even though their key is cached (besides publish steps, see acceptPublished). */
export function forcedNodes(plan: BuildPlan, env: PlanEnv, explanations: NodeExplanation[]): NodeId[] {
  const byId = new Map(explanations.map((e) => [e.id, e]));
  const forced: NodeId[] = [];
  for (const image of [...(plan.tools ? [plan.tools] : []), ...plan.images]) {
    if (env.options.rerunBuildScripts && image.nodes.build) forced.push(image.nodes.build);
    const metadata = image.nodes.metadata;
    if (
      metadata &&
      servedFromCache(byId.get(metadata)?.status) &&
      wantsMetadataRefresh(image.image, image, byId, env.options.force)
    )
      forced.push(metadata);
  }
  return forced;
}

/**
 * CacheOnly= decides whether the repository metadata is synced again. `always` and `metadata`: never.
 * `-f` (as upstream's forced sync): always otherwise; the steps that install packages key on the synced
 * metadata's digest, so they rerun only if the repositories changed. `never`: on every build that runs
 * anything. `auto`: unless the cached image (Incremental=) is usable, and only when something that
 * installs packages has to run anyway, so a plain rebuild never touches the network. An installer that
 * only waits for another image (the packages a build image makes) does not count: it may well turn out
 * cached (identical packages), and if it runs it installs them from the local repository, whatever the
 * remote metadata says.
 */
function wantsMetadataRefresh(
  image: ImageView,
  plan: BuildPlan["images"][number],
  byId: Map<NodeId, NodeExplanation>,
  force: number,
): boolean {
  const mode = image.CacheOnly;
  if (mode === "always" || mode === "metadata") return false;
  if (force >= 1) return true;
  const installers = ["bootstrap", "packages", "build-overlay", "volatile-packages"]
    .map((step) => plan.nodes[step])
    .filter((id): id is NodeId => id !== undefined);
  const runs = (id: NodeId) => !servedFromCache(byId.get(id)?.status);
  const own = (id: NodeId) => id.startsWith(`${image.Image}/`);
  const anyRuns = installers.some((id) => {
    const explanation = byId.get(id);
    if (!runs(id)) return false;
    return explanation?.status !== "pending-deps" || explanation.upstream.some(own);
  });
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
  // The default tools tree is built with the host's programs; the images then run programs from it, whose
  // packages it installs (their ToolsTree= names where it will be published, not yet there).
  preflight([
    ...(tools ? [of(tools, null)] : []),
    ...images.map((image) => of(image, tools ? "default" : image.ToolsTree)),
  ]);
}

/**
 * Before the sync run (which builds the default tools tree, minutes on a cold cache): a user's file at an
 * output path stops the build now rather than after that work. This needs no keys: an output this cache
 * did not publish is never accepted, so publishing would replace it (checkOutputsOwned checks again, with
 * the plan). -f has removed such outputs.
 */
async function checkForeignOutputsEarly(images: ImageView[], env: PlanEnv): Promise<void> {
  if (env.options.force >= 1) return;
  const foreign: string[] = [];
  for (const image of images)
    foreign.push(...(await foreignOutputs(env.cacheDir, outputPaths(image, env.configDir))));
  if (foreign.length > 0) throw new ForeignOutputError(foreign);
}

export async function build(request: BuildRequest): Promise<BuildResult> {
  const { images, env, engine } = request;
  checkDistributions(images, request.tools);
  const syncNodes = planSync(images, env, request.tools);
  if (syncNodes.length > 0) await checkForeignOutputsEarly(images, env);
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
  const checks = checkPublished(plan, env);
  const explanations = await engine.explain(plan.nodes);
  const forceRun = forcedNodes(plan, env, explanations);
  const states = new Map<NodeId, OutputState & { path: string }>();
  for (const [id, check] of checks) states.set(id, await check);
  // Before any work: would publishing replace a changed output, or a user's file? Where the publish step's
  // key is still pending (a step before it runs), it would most likely change: a changed output stops the
  // build here too, rather than after the work (acceptCached and forbidRun below decide for the rest).
  const byId = new Map(explanations.map((e) => [e.id, e]));
  const early = (id: NodeId): "cached" | "runs" | "pending" => {
    const e = byId.get(id);
    if (!e?.key || e.status === "pending-deps") return "pending";
    const state = states.get(id);
    return e.status === "cached" && (!state || acceptPublished(state, e.key)) ? "cached" : "runs";
  };
  const changed = [...states].filter(([id, state]) => state.changed && early(id) !== "cached");
  if (changed.length > 0) throw new ChangedOutputError(changed.map(([, state]) => state.path));
  await checkOutputsOwned(plan, env, (id) => early(id) !== "cached");
  const kept = new Set<string>();
  const strict = new Set(
    plan.images.filter((image) => image.image.Incremental === "strict").flatMap((image) => image.imageCache),
  );
  const summary = await engine.run(plan.nodes, {
    forceRun,
    check: env.options.check,
    signal: request.signal,
    onEvent: (event) =>
      request.onEvent?.(event.type === "done" && syncDone ? foldDone(syncDone, event, shared) : event),
    acceptCached: (id, key) => {
      const state = states.get(id);
      if (!state) return true;
      const accepted = acceptPublished(state, key);
      if (accepted && state.changed) kept.add(state.path);
      return accepted;
    },
    forbidRun: (explanation) => {
      if (strict.has(explanation.id))
        return `Incremental=strict: the cached image for ${explanation.group ?? explanation.id} is out of date`;
      const state = states.get(explanation.id);
      return state?.changed ? new ChangedOutputError([state.path]).message : undefined;
    },
  });
  return { plan, summary, upToDate: summary.ok && summary.ran.length === 0, kept: [...kept] };
}
