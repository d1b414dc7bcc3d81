// `mkosi graph` default output: a tree grouped by image, one line per node with status and reason,
// then the critical path and expected time.

import {
  formatBytes,
  formatDuration,
  type Paint,
  pad,
  painter,
  type Style,
  shortKey,
} from "../render/format.js";
import type { GraphModel, ModelNode } from "./model.js";
import { statusText } from "./reason.js";

export interface TextOptions {
  /** ANSI colors; the caller passes true only when writing to a terminal. */
  color?: boolean;
  /** Show only nodes expected to run (and groups that have some). */
  onlyToRun?: boolean;
}

const STATUS_STYLE: Record<ModelNode["status"], Style> = {
  cached: "green",
  remote: "blue",
  "will-run": "yellow",
  "pending-deps": "cyan",
  "missing-input": "red",
  unknown: "gray",
};

function statusLabel(status: ModelNode["status"]): string {
  return status === "unknown" ? "unknown" : statusText(status);
}

function groupSummary(nodes: readonly ModelNode[]): string {
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(statusLabel(n.status), (counts.get(statusLabel(n.status)) ?? 0) + 1);
  const order = ["will run", "pending deps", "missing input", "remote", "cached", "unknown"];
  return order
    .filter((s) => counts.has(s))
    .map((s) => `${counts.get(s)} ${s}`)
    .join(", ");
}

/** Duration and size of the last run; for a node to pull, the size of the download. */
function historyColumns(n: ModelNode): [string, string] {
  const pull = n.status === "remote" ? n.explanation?.remote : undefined;
  if (!n.lastRun) return ["", pull ? formatBytes(pull.bytes) : ""];
  return [formatDuration(n.lastRun.durationMs), formatBytes(pull ? pull.bytes : n.lastRun.bytes)];
}

export function renderGraphText(model: GraphModel, options: TextOptions = {}): string {
  const paint: Paint = painter(options.color ?? false);
  const visible = (n: ModelNode) => !options.onlyToRun || n.expectedToRun || n.status === "missing-input";
  const shown = model.nodes.filter(visible);
  const labelWidth = Math.max(8, ...shown.map((n) => n.label.length));
  const statusWidth = Math.max(...shown.map((n) => statusLabel(n.status).length), 6);
  const durWidth = Math.max(0, ...shown.map((n) => historyColumns(n)[0].length));
  const sizeWidth = Math.max(0, ...shown.map((n) => historyColumns(n)[1].length));
  const lines: string[] = [];

  for (const group of model.groups) {
    const nodes = group.nodes.filter(visible);
    if (nodes.length === 0) continue;
    const needs = new Set<string>();
    for (const n of group.nodes) {
      for (const d of n.deps) {
        const dep = model.byId.get(d);
        if (dep && dep.group !== group.name) needs.add(dep.group);
      }
    }
    const expected = group.nodes
      .filter((n) => n.expectedToRun)
      .reduce((s, n) => s + (n.lastRun?.durationMs ?? 0), 0);
    const header = [paint("bold", group.name)];
    if (needs.size > 0) header.push(paint("dim", `(needs ${[...needs].join(", ")})`));
    header.push(paint("dim", `· ${groupSummary(group.nodes)}`));
    if (expected > 0) header.push(paint("dim", `· ~${formatDuration(expected)} of work`));
    if (lines.length > 0) lines.push("");
    lines.push(header.join(" "));

    nodes.forEach((n, i) => {
      const last = i === nodes.length - 1;
      const branch = last ? "└─" : "├─";
      const key = n.key ? shortKey(n.key) : "-".repeat(12);
      const [dur, size] = historyColumns(n);
      const cols = [
        paint("dim", branch),
        n.onCriticalPath ? paint("bold", pad(n.label, labelWidth)) : pad(n.label, labelWidth),
        paint("dim", pad(key, 12)),
        paint(STATUS_STYLE[n.status], pad(statusLabel(n.status), statusWidth)),
      ];
      if (durWidth > 0) cols.push(dur.padStart(durWidth));
      if (sizeWidth > 0) cols.push(size.padStart(sizeWidth));
      cols.push(n.onCriticalPath ? paint("bold", "*") : " ");
      if (n.status !== "cached") cols.push(n.reason);
      lines.push(cols.join("  ").trimEnd());
    });
  }

  lines.push("");
  lines.push(...summaryLines(model, paint));
  return `${lines.join("\n")}\n`;
}

/** The footer: critical path and expected time. */
export function summaryLines(model: GraphModel, paint: Paint = painter(false)): string[] {
  const lines: string[] = [];
  const cached = model.nodes.filter((n) => n.status === "cached").length;
  const missing = model.nodes.filter((n) => n.status === "missing-input").length;
  const remote = model.nodes.filter((n) => n.status === "remote");
  const parts = [`${model.toRun} of ${model.nodes.length} nodes to run`, `${cached} cached`];
  if (remote.length > 0) {
    const bytes = remote.reduce((s, n) => s + (n.explanation?.remote?.bytes ?? 0), 0);
    parts.push(paint("blue", `${remote.length} to pull (${formatBytes(bytes)})`));
  }
  if (missing > 0) parts.push(paint("red", `${missing} missing input`));
  lines.push(parts.join(", "));
  if (model.toRun === 0) return lines;
  const cp = model.criticalPath;
  if (cp.nodes.length > 0) {
    lines.push(
      `Critical path (*): ${cp.nodes.map((id) => model.labelOf(id)).join(" → ")} (${formatDuration(cp.durationMs)})`,
    );
  }
  let expected = `Expected time: ${formatDuration(cp.durationMs)} on the critical path, ${formatDuration(
    model.totalWorkMs,
  )} of work in total`;
  if (model.withoutHistory.length > 0) {
    const n = model.withoutHistory.length;
    expected += ` (${n} node${n === 1 ? " has" : "s have"} no history)`;
  }
  lines.push(expected);
  return lines;
}
