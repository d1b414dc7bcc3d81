// The planned graph joined with its explanations and history: the one model every graph renderer
// (text, dot, json, mermaid, --why) reads.

import type { NodeExplanation, NodeId, NodeStatus, PlannedNode, RunRecord } from "../../engine/api.js";
import { type LabelOf, labelResolver, reasonLine } from "./reason.js";

export interface GraphInput {
  nodes: PlannedNode[];
  explanations: NodeExplanation[];
  /** Last run of each node identity, when the explanation's lastRun is missing or older. */
  history?: Record<NodeId, RunRecord | undefined> | Map<NodeId, RunRecord | undefined>;
}

export interface ModelNode {
  id: NodeId;
  /** Group name; nodes without one are in DEFAULT_GROUP. */
  group: string;
  label: string;
  task: string;
  deps: NodeId[];
  dependants: NodeId[];
  /** "unknown" when the plan has a node the explanations do not mention. */
  status: NodeStatus | "unknown";
  key?: string;
  reason: string;
  explanation?: NodeExplanation;
  lastRun?: RunRecord;
  /** Will run, or may run (pending deps): what counts toward expected time. */
  expectedToRun: boolean;
  onCriticalPath: boolean;
}

export interface CriticalPath {
  /** From the first node to run to the last. */
  nodes: NodeId[];
  durationMs: number;
}

export interface GraphModel {
  /** Topological order, stable with respect to the planned order. */
  nodes: ModelNode[];
  byId: Map<NodeId, ModelNode>;
  /** Group names in order of first appearance, with their nodes in topological order. */
  groups: { name: string; nodes: ModelNode[] }[];
  criticalPath: CriticalPath;
  /** Sum of last durations of nodes expected to run. */
  totalWorkMs: number;
  /** Nodes expected to run. */
  toRun: number;
  /** Nodes expected to run that have no recorded duration (counted as 0). */
  withoutHistory: NodeId[];
  labelOf(id: NodeId, fromGroup?: string): string;
}

export const DEFAULT_GROUP = "default";

function historyOf(input: GraphInput, id: NodeId): RunRecord | undefined {
  const h = input.history;
  if (!h) return undefined;
  return h instanceof Map ? h.get(id) : h[id];
}

/** Kahn's algorithm, always picking the earliest planned node among the ready ones. Nodes in a cycle
 * (which the engine rejects anyway) are appended in planned order. */
export function topoOrder(nodes: readonly PlannedNode[]): PlannedNode[] {
  const index = new Map(nodes.map((n, i) => [n.id, i]));
  const indegree = nodes.map((n) => n.deps.filter((d) => index.has(d)).length);
  const dependants = nodes.map(() => [] as number[]);
  nodes.forEach((n, i) => {
    for (const d of n.deps) {
      const j = index.get(d);
      if (j !== undefined) dependants[j]!.push(i);
    }
  });
  // A simple sorted ready list is fine for the few hundred nodes a plan has.
  const ready: number[] = [];
  indegree.forEach((deg, i) => {
    if (deg === 0) ready.push(i);
  });
  const out: PlannedNode[] = [];
  const seen = new Set<number>();
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const i = ready.shift()!;
    seen.add(i);
    out.push(nodes[i]!);
    for (const j of dependants[i]!) {
      indegree[j]!--;
      if (indegree[j] === 0) ready.push(j);
    }
  }
  nodes.forEach((n, i) => {
    if (!seen.has(i)) out.push(n);
  });
  return out;
}

export function buildModel(input: GraphInput): GraphModel {
  const explanations = new Map(input.explanations.map((e) => [e.id, e]));
  // Nodes the explanations know but the plan does not list still get shown.
  const planned = [...input.nodes];
  const plannedIds = new Set(planned.map((n) => n.id));
  for (const e of input.explanations) {
    if (!plannedIds.has(e.id))
      planned.push({ id: e.id, group: e.group, label: e.label, task: e.task, deps: [] });
  }
  const ordered = topoOrder(planned);
  const resolverNodes = ordered.map((n) => ({ id: n.id, group: n.group ?? DEFAULT_GROUP, label: n.label }));
  const resolvers = new Map<string, LabelOf>();
  const groups: { name: string; nodes: ModelNode[] }[] = [];
  // Without a group to speak from, qualify labels with their group when there are several groups.
  const labelOf = (id: NodeId, fromGroup?: string): string => {
    const key = fromGroup ?? (groups.length > 1 ? "\u0000" : "");
    let r = resolvers.get(key);
    if (!r) {
      r = labelResolver(resolverNodes, key === "" ? undefined : key);
      resolvers.set(key, r);
    }
    return r(id);
  };

  const byId = new Map<NodeId, ModelNode>();
  const nodes: ModelNode[] = ordered.map((p) => {
    const e = explanations.get(p.id);
    const group = p.group ?? e?.group ?? DEFAULT_GROUP;
    const lastRun = historyOf(input, p.id) ?? e?.lastRun;
    const status = e?.status ?? "unknown";
    const node: ModelNode = {
      id: p.id,
      group,
      label: p.label,
      task: p.task,
      deps: p.deps.filter((d) => plannedIds.has(d) || explanations.has(d)),
      dependants: [],
      status,
      key: e?.key,
      reason: e ? reasonLine(e, { labelOf: (id) => labelOf(id, group) }) : "not explained",
      explanation: e,
      lastRun,
      expectedToRun: status === "will-run" || status === "pending-deps",
      onCriticalPath: false,
    };
    byId.set(p.id, node);
    return node;
  });
  for (const n of nodes) for (const d of n.deps) byId.get(d)?.dependants.push(n.id);

  const groupIndex = new Map<string, number>();
  // Groups appear in order of their first planned node (not topological), so the user's image order
  // is kept; nodes inside a group are in topological order.
  for (const p of planned) {
    const g = byId.get(p.id)!.group;
    if (!groupIndex.has(g)) {
      groupIndex.set(g, groups.length);
      groups.push({ name: g, nodes: [] });
    }
  }
  for (const n of nodes) groups[groupIndex.get(n.group)!]!.nodes.push(n);

  const criticalPath = computeCriticalPath(nodes, byId);
  for (const id of criticalPath.nodes) byId.get(id)!.onCriticalPath = true;
  const running = nodes.filter((n) => n.expectedToRun);
  return {
    nodes,
    byId,
    groups,
    criticalPath,
    totalWorkMs: running.reduce((s, n) => s + (n.lastRun?.durationMs ?? 0), 0),
    toRun: running.length,
    withoutHistory: running.filter((n) => n.lastRun === undefined).map((n) => n.id),
    labelOf,
  };
}

/** Longest path through nodes expected to run, weighted by their last durations. Cached nodes weigh
 * nothing and are left out of the path. */
export function computeCriticalPath(nodes: readonly ModelNode[], byId: Map<NodeId, ModelNode>): CriticalPath {
  const best = new Map<NodeId, { ms: number; prev?: NodeId }>();
  let end: NodeId | undefined;
  let endMs = -1;
  for (const n of nodes) {
    const weight = n.expectedToRun ? (n.lastRun?.durationMs ?? 0) : 0;
    let prev: NodeId | undefined;
    let prevMs = 0;
    for (const d of n.deps) {
      const b = best.get(d);
      if (b && (prev === undefined || b.ms > prevMs)) {
        prev = d;
        prevMs = b.ms;
      }
    }
    const ms = prevMs + weight;
    best.set(n.id, { ms, prev });
    if (n.expectedToRun && ms > endMs) {
      end = n.id;
      endMs = ms;
    }
  }
  const path: NodeId[] = [];
  for (let id = end; id !== undefined; id = best.get(id)?.prev) {
    if (byId.get(id)?.expectedToRun) path.push(id);
  }
  path.reverse();
  return { nodes: path, durationMs: Math.max(0, endMs) };
}

/** Find a node by id ("main/packages"), by "group/label", or by label when unique. */
export function findNode(
  model: GraphModel,
  query: string,
): { ok: true; node: ModelNode } | { ok: false; error: string; candidates: NodeId[] } {
  const exact = model.byId.get(query);
  if (exact) return { ok: true, node: exact };
  const matches = model.nodes.filter(
    (n) => n.label === query || `${n.group}/${n.label}` === query || n.task === query,
  );
  if (matches.length === 1) return { ok: true, node: matches[0]! };
  if (matches.length > 1) {
    return {
      ok: false,
      error: `"${query}" is ambiguous: ${matches.map((m) => m.id).join(", ")}`,
      candidates: matches.map((m) => m.id),
    };
  }
  const fuzzy = model.nodes.filter((n) => n.id.includes(query)).map((n) => n.id);
  return {
    ok: false,
    error: `no node "${query}"${fuzzy.length > 0 ? `; did you mean ${fuzzy.slice(0, 5).join(", ")}?` : ""}`,
    candidates: fuzzy,
  };
}
