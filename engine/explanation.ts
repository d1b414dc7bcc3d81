// Explanations: why a node will run (or is cached), as data for renderers, and `explain()` of a whole
// plan without running anything.
import type { InputChange, NodeExplanation, NodeId, NodeSpec } from "./api.js";
import { CauseFinder, diffSignatures } from "./explain.js";
import type { Keys } from "./keys.js";
import { buildPlan, type PlanNode } from "./plan.js";
import type { RemoteCache, RemoteHooks } from "./remote/cache.js";
import { artifactPath, type EngineState } from "./state.js";
import type { LastRecord, Store } from "./store.js";

/** Reason a node will run, beyond its changes (NodeExplanation.reason). */
export type RunReason = NonNullable<NodeExplanation["reason"]>;

/** The explanation of one node in the state `status`. */
export function explainNode(
  store: Store,
  n: PlanNode,
  causes: CauseFinder,
  status: NodeExplanation["status"],
  last: LastRecord | undefined,
  reason: RunReason | undefined,
  upstream: NodeId[],
): NodeExplanation {
  const hist = store.getHistory(n.id);
  const lastRunRec = hist?.runs[hist.runs.length - 1];
  const lastKey = last?.key;
  // The old signature (read from the store, validated with zod: costly on a no-op) only when there are
  // changes to find: not for a node that runs on every build, or for one the cache just lacks.
  const plain =
    reason === "first-run" || reason === "not-in-cache" || reason === "always" || reason === "forced";
  const needsOld =
    lastKey !== undefined &&
    (lastKey !== n.key || ((status === "will-run" || status === "pending-deps") && !plain));
  const oldSig = needsOld ? store.getSignature(lastKey) : undefined;
  let changes: InputChange[] = [];
  if (oldSig && n.partial && lastKey !== n.key) changes = diffSignatures(store, oldSig, n.partial);
  const firstRun = last === undefined;
  const e: NodeExplanation = {
    id: n.id,
    label: n.label,
    task: n.taskName,
    status,
    changes,
    firstRun,
    upstream,
    rootCauses: [],
  };
  if (n.spec.group !== undefined) e.group = n.spec.group;
  if (n.key) e.key = n.key;
  if (lastRunRec) e.lastRun = lastRunRec;
  if (reason) e.reason = reason;
  if (n.problem) e.problem = n.problem;
  if (status === "will-run" || status === "pending-deps") {
    if (plain) {
      e.rootCauses = [{ chain: [n.id], changes: [] }];
    } else {
      e.rootCauses = causes.causes(n.id, oldSig, lastKey);
    }
  }
  return e;
}

export function reasonFor(n: PlanNode, last: LastRecord | undefined, forced: boolean): RunReason {
  if (forced) return "forced";
  if (n.spec.task.cache === "always") return "always";
  if (last === undefined) return "first-run";
  if (last.key === n.key) return "not-in-cache";
  return "inputs-changed";
}

/** Plan without running: status and reasons for every node (keys downstream of a node that must run are
 * unknown: "pending-deps"). */
export async function explainPlan(
  state: EngineState,
  keys: Keys,
  specs: NodeSpec[],
  remote?: RemoteCache,
  hooks: RemoteHooks = {},
): Promise<NodeExplanation[]> {
  remote?.flushWarnings(hooks);
  keys.reset();
  const plan = buildPlan(specs);
  const scanned = keys.prefetch(plan);
  keys.speculate(plan); // while the stat scan runs
  await scanned; // then every signature below is built synchronously
  const causes = new CauseFinder(state.store, (id) => plan.nodes.get(id)?.partial);
  const result = new Map<NodeId, NodeExplanation>();
  const stat = new Map<NodeId, NodeExplanation["status"]>();
  for (const n of plan.order) {
    const guess = keys.confirmGuess(n, plan);
    const hist = guess ? guess.last : state.store.getLast(n.id);
    if (n.problem) {
      stat.set(n.id, "missing-input");
      result.set(n.id, explainNode(state.store, n, causes, "missing-input", hist, undefined, []));
      continue;
    }
    try {
      if (guess) {
        n.partial = guess.partial;
        n.key = guess.key;
      } else {
        n.partial = await keys.signature(n, plan);
        if (Object.keys(n.partial.pending).length === 0) n.key = keys.keyOf(n.partial.sig);
        else keys.keyOf({ ...n.partial.sig, deps: {} }); // validates the values
      }
    } catch (err) {
      n.problem = (err as Error).message;
      stat.set(n.id, "missing-input");
      result.set(n.id, explainNode(state.store, n, causes, "missing-input", hist, undefined, []));
      continue;
    }
    // A node the remote cache has counts as cached: its output digest is known from its record.
    const upstream = n.depIds.filter((d) => stat.get(d) !== "cached" && stat.get(d) !== "remote");
    if (upstream.some((d) => stat.get(d) === "missing-input")) {
      n.problem = `dependency ${upstream.find((d) => stat.get(d) === "missing-input")} has a missing input`;
      stat.set(n.id, "missing-input");
      result.set(n.id, explainNode(state.store, n, causes, "missing-input", hist, undefined, upstream));
      continue;
    }
    if (upstream.length > 0) {
      stat.set(n.id, "pending-deps");
      const reason: RunReason | undefined = hist === undefined ? "first-run" : undefined;
      result.set(n.id, explainNode(state.store, n, causes, "pending-deps", hist, reason, upstream));
      continue;
    }
    n.key ??= keys.keyOf(n.partial.sig);
    const out =
      n.spec.task.cache === "always" ? undefined : guess ? guess.out : keys.cachedOutput(n.id, n.key);
    if (out) {
      n.output = { id: out.id, key: out.key, digest: out.digest, dir: out.dir, meta: out.meta };
      stat.set(n.id, "cached");
      result.set(n.id, explainNode(state.store, n, causes, "cached", hist, undefined, []));
      continue;
    }
    // Only what the local cache lacks is asked of the remote one: a no-op build never touches the network.
    const entry =
      remote && n.spec.task.cache !== "always" ? await remote.lookup(n.key, hooks, n.id) : undefined;
    if (entry) {
      const o = entry.record.output;
      n.output = { id: n.id, key: n.key, digest: o.digest, dir: artifactPath(state, n.key), meta: o.meta };
      stat.set(n.id, "remote");
      const e = explainNode(state.store, n, causes, "remote", hist, undefined, []);
      e.remote = { bytes: entry.layer.size, unpackedBytes: o.bytes };
      e.lastRun ??= {
        key: n.key,
        digest: o.digest,
        durationMs: o.durationMs,
        bytes: o.bytes,
        finishedAt: o.createdAt,
      };
      result.set(n.id, e);
    } else {
      stat.set(n.id, "will-run");
      const reason = reasonFor(n, hist, false);
      result.set(n.id, explainNode(state.store, n, causes, "will-run", hist, reason, []));
    }
  }
  await state.fp.flush();
  return specs.map((s) => result.get(s.id)!).filter((e) => e !== undefined);
}
