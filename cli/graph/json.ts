// `mkosi graph --format json`: a stable, documented shape (schemaVersion 2). The zod schema that
// describes it is in json-schema.ts (kept apart so this module does not load zod); see JSON.md.

import type { InputChange, Json, NodeId, NodeStatus, RunRecord } from "../../engine/api.js";
import type { GraphModel } from "./model.js";
import { describeChange } from "./reason.js";

export const GRAPH_JSON_SCHEMA_VERSION = 2;

export interface GraphJsonChange {
  kind: InputChange["kind"];
  name: string;
  /** Kind "task": the task whose implementation changed; else null. */
  task: string | null;
  change: InputChange["change"];
  /** Absent values are null. */
  old: Json;
  new: Json;
  files: { added: string[]; removed: string[]; modified: string[] } | null;
  /** describeChange(): the change in a few words. */
  summary: string;
}

export interface GraphJsonNode {
  id: NodeId;
  group: string;
  label: string;
  task: string;
  deps: NodeId[];
  status: NodeStatus | "unknown";
  key: string | null;
  /** reasonLine(): one line, "cached" for cached nodes. */
  reason: string;
  firstRun: boolean;
  changes: GraphJsonChange[];
  upstream: NodeId[];
  rootCauses: { chain: NodeId[]; changes: GraphJsonChange[] }[];
  lastRun: RunRecord | null;
  /** Status "remote": the download's size and what it unpacks to; else null. */
  remote: { bytes: number; unpackedBytes: number } | null;
  onCriticalPath: boolean;
}

export interface GraphJson {
  schemaVersion: 2;
  groups: { name: string; nodes: NodeId[] }[];
  nodes: GraphJsonNode[];
  edges: { from: NodeId; to: NodeId }[];
  criticalPath: { nodes: NodeId[]; durationMs: number };
  expected: {
    /** Nodes that will run or wait for dependencies that will run. */
    nodesToRun: number;
    criticalPathMs: number;
    totalWorkMs: number;
    /** Nodes to run with no recorded duration (counted as 0 ms). */
    withoutHistory: NodeId[];
  };
}

function change(c: InputChange): GraphJsonChange {
  return {
    kind: c.kind,
    name: c.name,
    task: c.task ?? null,
    change: c.change,
    old: c.old === undefined ? null : c.old,
    new: c.new === undefined ? null : c.new,
    files: c.files
      ? { added: [...c.files.added], removed: [...c.files.removed], modified: [...c.files.modified] }
      : null,
    summary: describeChange(c),
  };
}

export function graphToJson(model: GraphModel): GraphJson {
  return {
    schemaVersion: GRAPH_JSON_SCHEMA_VERSION,
    groups: model.groups.map((g) => ({ name: g.name, nodes: g.nodes.map((n) => n.id) })),
    nodes: model.nodes.map((n) => {
      const e = n.explanation;
      return {
        id: n.id,
        group: n.group,
        label: n.label,
        task: n.task,
        deps: [...n.deps],
        status: n.status,
        key: n.key ?? null,
        reason: n.reason,
        firstRun: e?.firstRun ?? false,
        changes: (e?.changes ?? []).map(change),
        upstream: [...(e?.upstream ?? [])],
        rootCauses: (e?.rootCauses ?? []).map((rc) => ({
          chain: [...rc.chain],
          changes: rc.changes.map(change),
        })),
        lastRun: n.lastRun
          ? {
              key: n.lastRun.key,
              digest: n.lastRun.digest,
              durationMs: n.lastRun.durationMs,
              bytes: n.lastRun.bytes,
              finishedAt: n.lastRun.finishedAt,
            }
          : null,
        remote: e?.remote ? { bytes: e.remote.bytes, unpackedBytes: e.remote.unpackedBytes } : null,
        onCriticalPath: n.onCriticalPath,
      };
    }),
    edges: model.nodes.flatMap((n) => n.deps.map((d) => ({ from: d, to: n.id }))),
    criticalPath: { nodes: [...model.criticalPath.nodes], durationMs: model.criticalPath.durationMs },
    expected: {
      nodesToRun: model.toRun,
      criticalPathMs: model.criticalPath.durationMs,
      totalWorkMs: model.totalWorkMs,
      withoutHistory: [...model.withoutHistory],
    },
  };
}

export function renderGraphJson(model: GraphModel): string {
  return `${JSON.stringify(graphToJson(model), null, 2)}\n`;
}
