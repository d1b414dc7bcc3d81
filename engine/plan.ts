// A plan: the nodes of one explain or run, their dependency edges (from each node's declared deps), in
// topological order, restricted to what the targets need, with critical-path priorities.
import { alg, Graph } from "@dagrejs/graphlib";
import type { DeclaredInputs, DepOutput, NodeId, NodeSpec } from "./api.js";
import type { PartialSignature } from "./explain.js";
import type { LastRecord } from "./store.js";

export type NodeState =
  | "pending"
  | "keying"
  | "queued"
  | "running"
  | "cached"
  | "done"
  | "failed"
  | "skipped";

export interface PlanNode {
  spec: NodeSpec;
  id: NodeId;
  label: string;
  taskName: string;
  inputs?: DeclaredInputs;
  problem?: string;
  /** label -> dep id */
  deps: [string, NodeId][];
  depIds: NodeId[];
  dependants: NodeId[];
  priority: number;
  state: NodeState;
  partial?: PartialSignature;
  key?: string;
  output?: DepOutput;
  /** Speculative keying done while the stat scan runs (see Keys.speculate()). */
  guess?: Guess;
}

export interface Guess {
  partial: PartialSignature;
  key: string;
  out: (DepOutput & { durationMs: number }) | undefined;
  last: LastRecord | undefined;
}

export class Plan {
  nodes = new Map<NodeId, PlanNode>();
  order: PlanNode[] = [];
}

/** Path labels name inputs in explanations and signatures: each appears once. */
function checkPathLabels(inputs: DeclaredInputs): void {
  const seen = new Set<string>();
  for (const [label] of inputs.paths ?? []) {
    if (seen.has(label)) throw new Error(`path label "${label}" is declared twice`);
    seen.add(label);
  }
}

/** Plans `specs`; with `targets`, only those and what they need. A node whose inputs cannot be declared
 * carries a `problem` instead of failing the plan; a cycle or an unknown target does fail it. */
export function buildPlan(specs: NodeSpec[], targets?: NodeId[]): Plan {
  const g = new Graph({ directed: true });
  const byId = new Map<NodeId, NodeSpec>();
  for (const s of specs) {
    if (byId.has(s.id)) throw new Error(`duplicate node id "${s.id}" in plan`);
    byId.set(s.id, s);
    g.setNode(s.id);
  }
  const pnodes = new Map<NodeId, PlanNode>();
  for (const s of specs) {
    const n: PlanNode = {
      spec: s,
      id: s.id,
      label: s.label ?? s.task.name,
      taskName: s.task.name,
      deps: [],
      depIds: [],
      dependants: [],
      priority: 0,
      state: "pending",
    };
    try {
      n.inputs = s.task.inputs(s.params);
      checkPathLabels(n.inputs);
    } catch (e) {
      n.problem = `declaring inputs failed: ${(e as Error).message}`;
    }
    for (const [label, dep] of Object.entries(n.inputs?.deps ?? {})) {
      n.deps.push([label, dep]);
      if (!byId.has(dep)) {
        n.problem ??= `dependency "${dep}" (${label}) is not part of the plan`;
        continue;
      }
      if (!n.depIds.includes(dep)) n.depIds.push(dep);
      g.setEdge(dep, s.id);
    }
    pnodes.set(s.id, n);
  }
  let order: string[];
  try {
    order = alg.topsort(g);
  } catch {
    const cycles = alg.findCycles(g);
    throw new Error(`the plan has a dependency cycle: ${cycles.map((c) => c.join(" -> ")).join("; ")}`);
  }
  let keep: Set<NodeId> | undefined;
  if (targets) {
    keep = new Set();
    const stack = [...targets];
    for (const t of targets) if (!byId.has(t)) throw new Error(`target "${t}" is not part of the plan`);
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (keep.has(id)) continue;
      keep.add(id);
      for (const p of g.predecessors(id) ?? []) stack.push(p);
    }
  }
  const plan = new Plan();
  for (const id of order) {
    if (keep && !keep.has(id)) continue;
    const n = pnodes.get(id)!;
    plan.nodes.set(id, n);
    plan.order.push(n);
  }
  for (const n of plan.order) for (const d of n.depIds) plan.nodes.get(d)?.dependants.push(n.id);
  // Critical path (in nodes) to a sink: longer chains start first.
  for (let i = plan.order.length - 1; i >= 0; i--) {
    const n = plan.order[i]!;
    let p = 0;
    for (const d of n.dependants) p = Math.max(p, plan.nodes.get(d)!.priority);
    n.priority = p + 1;
  }
  return plan;
}
