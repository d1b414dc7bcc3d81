// One `mkosi build`: plan the graph for all images, decide what must be refreshed or forced (CacheOnly=,
// Incremental=, -f, --rerun-build-scripts), run it on the engine and report.
import { rm } from "node:fs/promises";
import type { Engine, EngineEvent, NodeExplanation, NodeId, RunSummary } from "../engine/api.js";
import type { PlanEnv } from "./env.js";
import type { ImageView } from "./image.js";
import { outputPaths } from "./outputs.js";
import { type BuildPlan, planBuild, planSync } from "./plan.js";
import { readPublished } from "./published.js";

export interface BuildRequest {
  images: ImageView[];
  /** The default tools tree's image (ToolsTree=default), if any. */
  tools?: ImageView | null;
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

/** Which nodes must run even though their key is cached. */
export async function forcedNodes(
  plan: BuildPlan,
  env: PlanEnv,
  explanations: NodeExplanation[],
): Promise<NodeId[]> {
  const byId = new Map(explanations.map((e) => [e.id, e]));
  const status = new Map(explanations.map((e) => [e.id, e.status]));
  const forced: NodeId[] = [];
  for (const image of [...(plan.tools ? [plan.tools] : []), ...plan.images]) {
    // The output at the path must be this publish node's: outputs the user removed or replaced, or that
    // a build of other inputs (an older key, another cache) published since, are published again.
    const publish = image.publish ? byId.get(image.publish) : undefined;
    if (publish?.status === "cached") {
      const [main] = outputPaths(image.image, env.configDir);
      const record = main ? await readPublished(env.cacheDir, main) : undefined;
      if (!record || record.key !== publish.key) forced.push(publish.id);
    }
    if (env.options.rerunBuildScripts && image.nodes.build) forced.push(image.nodes.build);
    const metadata = image.nodes.metadata;
    if (metadata && status.get(metadata) === "cached" && wantsMetadataRefresh(image.image, image, status))
      forced.push(metadata);
  }
  return forced;
}

/**
 * CacheOnly= decides whether the repository metadata is synced again. `always` and `metadata`: never.
 * `never`: on every build that runs anything. `auto`: unless the cached image (Incremental=) is usable,
 * and only when something that installs packages has to run anyway, so a no-op rebuild never touches
 * the network.
 */
function wantsMetadataRefresh(
  image: ImageView,
  plan: BuildPlan["images"][number],
  status: Map<NodeId, NodeExplanation["status"]>,
): boolean {
  const mode = image.CacheOnly;
  if (mode === "always" || mode === "metadata") return false;
  const installers = ["bootstrap", "packages", "build-overlay", "volatile-packages"]
    .map((step) => plan.nodes[step])
    .filter((id): id is NodeId => id !== undefined);
  const anyRuns = installers.some((id) => status.get(id) !== "cached");
  if (mode === "never") return Object.values(plan.nodes).some((id) => status.get(id) !== "cached");
  if (image.Incremental !== "no") return anyRuns && plan.imageCache.some((id) => status.get(id) !== "cached");
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

export async function build(request: BuildRequest): Promise<BuildResult> {
  const { images, env, engine } = request;
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
      return { plan: planBuild(images, env, request.tools), summary: synced, upToDate: false };
    }
  }
  const plan = planBuild(images, env, request.tools);
  const syncIds = new Set(syncNodes.map((node) => node.id));
  const shared = plan.nodes.filter((node) => syncIds.has(node.id)).length;
  await applyForce(plan, env, engine);
  const explanations = await engine.explain(plan.nodes);
  const forceRun = await forcedNodes(plan, env, explanations);
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
  return { plan, summary, upToDate: summary.ok && summary.ran.length === 0 };
}
