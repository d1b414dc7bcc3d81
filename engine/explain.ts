// Diffs of signatures: which declared inputs changed between two runs, and, for a change that came from a
// dependency, the chain down to the node(s) whose own inputs changed (the root causes).

import type { InputChange, Json, NodeId } from "./api.js";
import { jsonEqual } from "./encoding.js";
import type { PathSig, SignatureRecord, Store } from "./store.js";
import { diffTrees } from "./tree-diff.js";

/** A signature whose dependency digests may not be known yet (the dependency still has to run). */
export interface PartialSignature {
  sig: SignatureRecord;
  /** Dependencies (by label) whose output is not known yet. Absent from sig.deps. */
  pending: Record<string, NodeId>;
}

/** A secret path's fingerprint is a keyed digest: shown as such, never diffed. */
function pathValue(p: PathSig): Json {
  return p.fp.startsWith("S ") ? "(secret)" : p.fp;
}

function sortedUnion(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
}

/** Input-by-input changes from `old` to `cur`. Pending dependencies are not reported (unknown yet). */
export function diffSignatures(store: Store, old: SignatureRecord, cur: PartialSignature): InputChange[] {
  const changes: InputChange[] = [];
  const s = cur.sig;
  if (old.task !== s.task)
    changes.push({ kind: "task", name: "name", change: "modified", old: old.task, new: s.task });
  if (old.implementation !== s.implementation) {
    changes.push({
      kind: "task",
      name: "implementation",
      task: s.task,
      change: "modified",
      old: old.implementation,
      new: s.implementation,
    });
  }
  for (const k of sortedUnion(old.values, s.values)) {
    const a = old.values[k];
    const b = s.values[k];
    if (a === undefined) changes.push({ kind: "value", name: k, change: "added", new: b as Json });
    else if (b === undefined) changes.push({ kind: "value", name: k, change: "removed", old: a });
    else if (!jsonEqual(a, b))
      changes.push({ kind: "value", name: k, change: "modified", old: a, new: b as Json });
  }
  for (const k of sortedUnion(old.paths, s.paths)) {
    const a = old.paths[k];
    const b = s.paths[k];
    if (a === undefined) changes.push({ kind: "path", name: k, change: "added", new: pathValue(b!) });
    else if (b === undefined) changes.push({ kind: "path", name: k, change: "removed", old: pathValue(a) });
    else if (a.fp !== b.fp) {
      const c: InputChange = {
        kind: "path",
        name: k,
        change: "modified",
        old: pathValue(a),
        new: pathValue(b),
      };
      const files = diffTrees(store, a.fp, b.fp);
      if (files) c.files = files;
      changes.push(c);
    }
  }
  for (const k of sortedUnion(old.secrets, s.secrets)) {
    const a = old.secrets[k];
    const b = s.secrets[k];
    if (a === undefined) changes.push({ kind: "secret", name: k, change: "added" });
    else if (b === undefined) changes.push({ kind: "secret", name: k, change: "removed" });
    else if (a !== b) changes.push({ kind: "secret", name: k, change: "modified" });
  }
  // The same paths in another order (a change of one path is reported above).
  const common = s.pathOrder.filter((label) => label in old.paths);
  const oldCommon = old.pathOrder.filter((label) => label in s.paths);
  if (common.some((label, i) => oldCommon[i] !== label))
    changes.push({ kind: "order", name: "paths", change: "modified", old: oldCommon, new: common });
  for (const k of sortedUnion(old.env, s.env)) {
    const a = old.env[k];
    const b = s.env[k];
    if (a === undefined) changes.push({ kind: "env", name: k, change: "added", new: b! });
    else if (b === undefined) changes.push({ kind: "env", name: k, change: "removed", old: a });
    else if (a !== b) changes.push({ kind: "env", name: k, change: "modified", old: a, new: b });
  }
  for (const k of sortedUnion(old.deps, { ...s.deps, ...cur.pending })) {
    const a = old.deps[k];
    const b = s.deps[k];
    if (k in cur.pending) {
      if (a === undefined) changes.push({ kind: "dep", name: k, change: "added" });
      continue;
    }
    if (a === undefined) changes.push({ kind: "dep", name: k, change: "added", new: b!.digest });
    else if (b === undefined) changes.push({ kind: "dep", name: k, change: "removed", old: a.digest });
    else if (a.digest !== b.digest)
      changes.push({ kind: "dep", name: k, change: "modified", old: a.digest, new: b.digest });
  }
  return changes;
}

export interface RootCause {
  chain: NodeId[];
  changes: InputChange[];
}

/** Finds root causes across the nodes of one plan. `current(id)` gives a node's current (partial)
 * signature when it is known. */
export class CauseFinder {
  private memo = new Map<string, RootCause[]>();

  constructor(
    private store: Store,
    private current: (id: NodeId) => PartialSignature | undefined,
  ) {}

  /** Root causes of node `id` differing from the run recorded by `old` (undefined: never ran). */
  causes(
    id: NodeId,
    old: SignatureRecord | undefined,
    oldKey: string | undefined,
    extra: InputChange[] = [],
  ): RootCause[] {
    const memoKey = `${id}\0${oldKey ?? ""}`;
    const hit = extra.length === 0 ? this.memo.get(memoKey) : undefined;
    if (hit) return hit;
    const cur = this.current(id);
    const result: RootCause[] = [];
    if (!cur || !old) {
      result.push({ chain: [id], changes: extra });
    } else {
      const changes = diffSignatures(this.store, old, cur);
      const own = [...extra, ...changes.filter((c) => c.kind !== "dep")];
      if (own.length > 0) result.push({ chain: [id], changes: own });
      for (const c of changes) {
        if (c.kind !== "dep") continue;
        if (c.change !== "modified") {
          result.push({ chain: [id], changes: [c] });
          continue;
        }
        const depId = cur.sig.deps[c.name]?.id;
        const oldDep = old.deps[c.name];
        const sub =
          depId && oldDep ? this.causes(depId, this.store.getSignature(oldDep.key), oldDep.key) : [];
        if (sub.length === 0) result.push({ chain: [id], changes: [c] });
        else for (const r of sub) result.push({ chain: [id, ...r.chain], changes: r.changes });
      }
      // Dependencies that still have to run: what makes them run, as far as it is known now. That is their
      // difference from their own last run, which can be newer than the one this node's last run read (an
      // early cutoff kept this node cached when the dependency last ran).
      for (const [label, depId] of Object.entries(cur.pending)) {
        const depKey = this.store.getLast(depId)?.key ?? old.deps[label]?.key;
        const sub = this.causes(depId, depKey ? this.store.getSignature(depKey) : undefined, depKey);
        for (const r of sub) result.push({ chain: [id, ...r.chain], changes: r.changes });
      }
      if (result.length === 0) result.push({ chain: [id], changes: [] });
    }
    if (extra.length === 0) this.memo.set(memoKey, result);
    return result;
  }
}
