// Turning explain data (NodeExplanation, InputChange) into words. `reasonLine` is the one-line reason
// shown by `mkosi graph`, `--explain` and the build UI; `describeChangeDetail` is the long form of
// `--why`.

import type { InputChange, Json, NodeExplanation, NodeId } from "../../engine/api.js";
import { formatBytes, shortKey, splitNodeId } from "../render/format.js";

/** How to name other nodes (chains, upstream). Default: the last segment of the id, or "group/label"
 * when the node is in another group than the one being explained. */
export type LabelOf = (id: NodeId) => string;

export interface ReasonOptions {
  labelOf?: LabelOf;
  /** How many list items / files to name before "and N more". Default 3. */
  maxItems?: number;
  /** Truncate scalar values to this many characters. Default 40. */
  maxValueLength?: number;
}

/** Build a LabelOf from known nodes: same-group nodes by label, others as "group/label". */
export function labelResolver(
  nodes: Iterable<{ id: NodeId; group?: string; label: string }>,
  currentGroup?: string,
): LabelOf {
  const byId = new Map<NodeId, { group?: string; label: string }>();
  for (const n of nodes) byId.set(n.id, n);
  return (id) => {
    const n = byId.get(id) ?? splitNodeId(id);
    if (n.group !== undefined && currentGroup !== undefined && n.group !== currentGroup) {
      return `${n.group}/${n.label}`;
    }
    return n.label;
  };
}

function defaultLabelOf(currentGroup?: string): LabelOf {
  return labelResolver([], currentGroup);
}

// ---------------------------------------------------------------------------------------------
// Names of inputs.

function stripPrefix(name: string, prefix: string): string {
  return name.startsWith(prefix) ? name.slice(prefix.length) : name;
}

/** "Packages" → "Packages=" (a setting); other labels unchanged. */
export function inputDisplayName(change: Pick<InputChange, "kind" | "name" | "task">): string {
  switch (change.kind) {
    case "value":
      return /^[A-Z][A-Za-z0-9]*$/.test(change.name) ? `${change.name}=` : change.name;
    case "env":
      return `env ${stripPrefix(change.name, "env:")}`;
    case "dep":
      return stripPrefix(change.name, "dep:");
    case "path":
      return stripPrefix(change.name, "path:");
    case "task":
      return change.task ? `implementation of ${change.task}` : "task implementation";
    case "secret":
      return /^[A-Z][A-Za-z0-9]*$/.test(change.name) ? `${change.name}=` : change.name;
    case "order":
      return `order of ${change.name}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Values.

function isScalar(v: Json | undefined): v is null | boolean | number | string {
  return v === null || typeof v !== "object";
}

/** A value for display: strings bare (quoted when empty or padded), the rest as JSON. */
export function formatValue(v: Json | undefined, maxLength = 40): string {
  let text: string;
  if (v === undefined) text = "(unset)";
  else if (typeof v === "string")
    text = v === "" || v.trim() !== v || v.includes("\n") ? JSON.stringify(v) : v;
  else text = JSON.stringify(v);
  if (text.length > maxLength) text = `${text.slice(0, Math.max(1, maxLength - 1))}…`;
  return text;
}

function itemKey(v: Json): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** Multiset difference of two lists, in order of appearance. */
export function listDiff(oldList: Json[], newList: Json[]): { added: string[]; removed: string[] } {
  const count = new Map<string, number>();
  for (const v of oldList) count.set(itemKey(v), (count.get(itemKey(v)) ?? 0) + 1);
  const added: string[] = [];
  for (const v of newList) {
    const k = itemKey(v);
    const c = count.get(k) ?? 0;
    if (c > 0) count.set(k, c - 1);
    else added.push(k);
  }
  const removed: string[] = [];
  for (const v of oldList) {
    const k = itemKey(v);
    const c = count.get(k) ?? 0;
    if (c > 0) {
      removed.push(k);
      count.set(k, c - 1);
    }
  }
  return { added, removed };
}

function limited(items: string[], max: number): string {
  if (items.length <= max) return items.join(", ");
  return `${items.slice(0, max).join(", ")} and ${items.length - max} more`;
}

/** The short diff of two values: "+vim -nano", "bookworm → trixie", "Foo: 1 → 2, +Bar". */
export function valueDiff(
  oldV: Json | undefined,
  newV: Json | undefined,
  options: ReasonOptions = {},
): string {
  const max = options.maxItems ?? 3;
  const maxLen = options.maxValueLength ?? 40;
  if (Array.isArray(oldV) && Array.isArray(newV)) {
    const { added, removed } = listDiff(oldV, newV);
    if (added.length === 0 && removed.length === 0) return "order changed";
    const parts = [...added.map((a) => `+${a}`), ...removed.map((r) => `-${r}`)];
    return limited(parts, max);
  }
  if (
    oldV &&
    newV &&
    typeof oldV === "object" &&
    typeof newV === "object" &&
    !Array.isArray(oldV) &&
    !Array.isArray(newV)
  ) {
    const parts: string[] = [];
    const keys = [...new Set([...Object.keys(oldV), ...Object.keys(newV)])];
    for (const k of keys) {
      const a = oldV[k];
      const b = newV[k];
      if (a === undefined && b !== undefined) parts.push(`+${k}`);
      else if (a !== undefined && b === undefined) parts.push(`-${k}`);
      else if (JSON.stringify(a) !== JSON.stringify(b)) {
        parts.push(
          isScalar(a) && isScalar(b)
            ? `${k}: ${formatValue(a, maxLen)} → ${formatValue(b, maxLen)}`
            : `${k} changed`,
        );
      }
    }
    return parts.length > 0 ? limited(parts, max) : "changed";
  }
  return `${formatValue(oldV, maxLen)} → ${formatValue(newV, maxLen)}`;
}

function fileEntries(files: NonNullable<InputChange["files"]>): { sign: "" | "+" | "-"; path: string }[] {
  return [
    ...files.modified.map((path) => ({ sign: "" as const, path })),
    ...files.added.map((path) => ({ sign: "+" as const, path })),
    ...files.removed.map((path) => ({ sign: "-" as const, path })),
  ];
}

function joinPath(root: string, rel: string): string {
  if (rel === "" || rel === ".") return root;
  return `${root.replace(/\/+$/, "")}/${rel.replace(/^\/+/, "")}`;
}

/** One change in a few words: "Packages= changed: +vim", "mkosi.extra/etc/motd changed",
 * "upstream packages output changed", "task implementation changed (v3 → v4)",
 * "env SOURCE_DATE_EPOCH changed". */
export function describeChange(change: InputChange, options: ReasonOptions = {}): string {
  const max = options.maxItems ?? 3;
  const maxLen = options.maxValueLength ?? 40;
  const name = inputDisplayName(change);
  switch (change.kind) {
    case "task":
      if (change.name !== "implementation") {
        return `task changed: ${formatValue(change.old, maxLen)} → ${formatValue(change.new, maxLen)}`;
      }
      return `${name} changed`;
    case "secret":
      // Never a value: secrets are stored as keyed digests only.
      if (change.change === "added") return `${name} set (secret)`;
      if (change.change === "removed") return `${name} unset (secret)`;
      return `${name} changed (secret)`;
    case "order": {
      const labels = (v: Json | undefined) => (Array.isArray(v) ? v.map((x) => String(x)) : []);
      return `${name} changed: ${limited(labels(change.old), max)} → ${limited(labels(change.new), max)}`;
    }
    case "value":
      if (change.change === "added") return `${name} added: ${formatValue(change.new, maxLen)}`;
      if (change.change === "removed") return `${name} removed (was ${formatValue(change.old, maxLen)})`;
      return `${name} changed: ${valueDiff(change.old, change.new, options)}`;
    case "env":
      if (change.change === "added") return `${name} set`;
      if (change.change === "removed") return `${name} unset`;
      return `${name} changed`;
    case "dep":
      if (change.change === "added") return `new dependency ${name}`;
      if (change.change === "removed") return `dependency ${name} removed`;
      return `upstream ${name} output changed`;
    case "path": {
      if (change.change === "added") return `${name} created`;
      if (change.change === "removed") return `${name} missing`;
      const entries = change.files ? fileEntries(change.files) : [];
      if (entries.length === 0) return `${name} changed`;
      if (entries.length === 1) {
        const e = entries[0]!;
        const verb = e.sign === "+" ? "added" : e.sign === "-" ? "removed" : "changed";
        return `${joinPath(name, e.path)} ${verb}`;
      }
      return `${name} changed: ${limited(
        entries.map((e) => `${e.sign}${e.path}`),
        max,
      )}`;
    }
  }
}

const KIND_ORDER: Record<InputChange["kind"], number> = {
  value: 0,
  secret: 0,
  path: 1,
  order: 1,
  env: 2,
  task: 3,
  dep: 4,
};

/** Changes ordered by how much they tell a user: their own edits first, then code, then upstream. */
export function sortChanges(changes: readonly InputChange[]): InputChange[] {
  return [...changes].sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind]);
}

function describeChanges(changes: readonly InputChange[], options: ReasonOptions): string {
  const sorted = sortChanges(changes);
  if (sorted.length === 0) return "";
  // Several upstream outputs changed and nothing else: one phrase.
  if (sorted.length > 1 && sorted.every((c) => c.kind === "dep" && c.change === "modified")) {
    return `upstream ${limited(
      sorted.map((c) => inputDisplayName(c)),
      options.maxItems ?? 3,
    )} outputs changed`;
  }
  const first = describeChange(sorted[0]!, options);
  return sorted.length === 1 ? first : `${first} (+${sorted.length - 1} more)`;
}

/** Optional fields some engines add to an explanation (not part of the api.ts contract; read if
 * present): why a node with unchanged inputs runs, and what is wrong with a missing input. */
interface ExplanationExtras {
  reason?: "first-run" | "inputs-changed" | "not-in-cache" | "always" | "forced" | string;
  problem?: string;
}

function extras(e: NodeExplanation): ExplanationExtras {
  const x = e as NodeExplanation & Record<string, unknown>;
  return {
    reason: typeof x.reason === "string" ? x.reason : undefined,
    problem: typeof x.problem === "string" ? x.problem : undefined,
  };
}

/** The first root cause found through a dependency (chain longer than the node itself). */
function upstreamCause(
  e: NodeExplanation,
): { root: NodeId; changes: InputChange[]; more: number } | undefined {
  const via = e.rootCauses.filter((rc) => rc.chain.length > 1);
  const first = via[0];
  if (!first) return undefined;
  const roots = new Set(via.map((rc) => rc.chain[rc.chain.length - 1]));
  return { root: first.chain[first.chain.length - 1]!, changes: first.changes, more: roots.size - 1 };
}

function causeText(changes: readonly InputChange[], options: ReasonOptions): string {
  return changes.length > 0 ? describeChanges(changes, options) : "never built";
}

function moreCauses(n: number): string {
  return n > 0 ? ` (+${n} more cause${n === 1 ? "" : "s"})` : "";
}

/** Why a node will run, in one line. For cached nodes: "cached". */
export function reasonLine(explanation: NodeExplanation, options: ReasonOptions = {}): string {
  const labelOf = options.labelOf ?? defaultLabelOf(explanation.group);
  const x = extras(explanation);
  const own = explanation.changes.filter((c) => c.kind !== "dep");
  switch (explanation.status) {
    case "cached":
      return "cached";
    case "remote":
      return explanation.remote
        ? `in the remote cache: ${formatBytes(explanation.remote.bytes)} to pull`
        : "in the remote cache";
    case "missing-input": {
      const missing = explanation.changes.filter((c) => c.kind === "path" && c.change === "removed");
      if (missing.length > 0) return `missing input: ${missing.map((c) => inputDisplayName(c)).join(", ")}`;
      if (x.problem) return `missing input: ${x.problem}`;
      const changed = describeChanges(explanation.changes, options);
      return changed ? `missing input (${changed})` : "missing input";
    }
    case "pending-deps": {
      const up = explanation.upstream.map(labelOf);
      const upText = `upstream ${up.length === 0 ? "dependencies" : limited(up, options.maxItems ?? 3)} will run`;
      // Its own inputs changed too: that is the news, the upstream run comes second.
      if (own.length > 0 && !explanation.firstRun) return `${describeChanges(own, options)}; ${upText}`;
      const cause = upstreamCause(explanation);
      if (!cause) return explanation.firstRun ? `never built; ${upText}` : upText;
      const rootLabel = labelOf(cause.root);
      const text = causeText(cause.changes, options) + moreCauses(cause.more);
      if (up.length === 1 && up[0] === rootLabel) return `${upText}: ${text}`;
      return `${upText} ← ${rootLabel}: ${text}`;
    }
    case "will-run": {
      if (explanation.firstRun || x.reason === "first-run") return "never built";
      if (x.reason === "forced") return "forced to run";
      if (x.reason === "always") return "always runs (not cached by design)";
      if (explanation.changes.length === 0) {
        if (x.reason === "not-in-cache") return "inputs unchanged, output not in cache";
        if (explanation.lastRun && explanation.key && explanation.lastRun.key === explanation.key) {
          return "inputs unchanged, output not in cache";
        }
        return "inputs unchanged, forced to run";
      }
      if (own.length > 0) return describeChanges(explanation.changes, options);
      // Only upstream outputs changed: name the root cause when it is further up.
      const text = describeChanges(explanation.changes, options);
      const cause = upstreamCause(explanation);
      if (cause && cause.root !== undefined) {
        const chain =
          explanation.rootCauses.find((rc) => rc.chain[rc.chain.length - 1] === cause.root)?.chain ?? [];
        if (chain.length > 2) return `${text} ← ${labelOf(cause.root)}: ${causeText(cause.changes, options)}`;
      }
      return text;
    }
  }
}

/** One-word-ish status for display. */
export function statusText(status: NodeExplanation["status"]): string {
  switch (status) {
    case "cached":
      return "cached";
    case "will-run":
      return "will run";
    case "pending-deps":
      return "pending deps";
    case "missing-input":
      return "missing input";
    case "remote":
      return "remote";
  }
}

/** The long form of one change, for `--why`: a headline and indented detail lines. */
export function describeChangeDetail(change: InputChange, options: ReasonOptions = {}): string[] {
  const name = inputDisplayName(change);
  const kindText: Record<InputChange["kind"], string> = {
    value: "setting",
    path: change.files ? "tree" : "file",
    env: "environment",
    dep: "dependency output",
    task: "task",
    secret: "secret setting",
    order: "order of inputs",
  };
  const lines = [`${name} (${kindText[change.kind]}, ${change.change})`];
  const full = { ...options, maxItems: Number.POSITIVE_INFINITY, maxValueLength: 200 };
  const isDigest = change.kind === "path" || change.kind === "dep";
  const show = (v: Json | undefined) =>
    isDigest && typeof v === "string" ? v : v === undefined ? "(none)" : formatValue(v, 200);
  if (change.kind === "task") {
    lines.push(`  ${change.name}: ${formatValue(change.old, 200)} → ${formatValue(change.new, 200)}`);
    return lines;
  }
  if (change.kind === "secret") return lines;
  if (change.kind === "order") {
    lines.push(`  old: ${Array.isArray(change.old) ? change.old.join(", ") : "(none)"}`);
    lines.push(`  new: ${Array.isArray(change.new) ? change.new.join(", ") : "(none)"}`);
    return lines;
  }
  if (change.change !== "added") lines.push(`  old: ${show(change.old)}`);
  if (change.change !== "removed") lines.push(`  new: ${show(change.new)}`);
  if (change.kind === "value" && change.change === "modified") {
    const diff = valueDiff(change.old, change.new, full);
    if (Array.isArray(change.old) && Array.isArray(change.new)) {
      const { added, removed } = listDiff(change.old, change.new);
      if (added.length > 0) lines.push(`  added: ${added.join(", ")}`);
      if (removed.length > 0) lines.push(`  removed: ${removed.join(", ")}`);
      if (added.length === 0 && removed.length === 0) lines.push(`  ${diff}`);
    } else if (!isScalar(change.old) || !isScalar(change.new)) {
      lines.push(`  diff: ${diff}`);
    }
  }
  if (change.files) {
    for (const [label, list] of [
      ["modified", change.files.modified],
      ["added", change.files.added],
      ["removed", change.files.removed],
    ] as const) {
      for (const f of list) lines.push(`  ${label}: ${f}`);
    }
  }
  return lines;
}

/** "postinst ← packages ← metadata" for a chain of node ids. */
export function chainText(chain: readonly NodeId[], labelOf: LabelOf): string {
  return chain.map(labelOf).join(" ← ");
}

export { shortKey };
