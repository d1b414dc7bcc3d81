// Graphviz output: one cluster per image, nodes filled by status, critical path drawn bold.

import { formatDuration, shortKey } from "../render/format.js";
import type { GraphModel, ModelNode } from "./model.js";
import { statusText } from "./reason.js";

/** Fill colors per status (also used by mermaid). */
export const STATUS_COLORS: Record<ModelNode["status"], { fill: string; border: string }> = {
  cached: { fill: "#d5f5d5", border: "#2e7d32" },
  remote: { fill: "#d0e8ff", border: "#1565c0" },
  "will-run": { fill: "#ffe0b2", border: "#e65100" },
  "pending-deps": { fill: "#fff9c4", border: "#9e9d24" },
  "missing-input": { fill: "#ffcdd2", border: "#b71c1c" },
  unknown: { fill: "#eeeeee", border: "#757575" },
};

/** A DOT double-quoted string. */
export function dotString(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\r?\n/g, "\\n")}"`;
}

export function renderGraphDot(model: GraphModel, options: { name?: string } = {}): string {
  const out: string[] = [];
  out.push(`digraph ${dotString(options.name ?? "mkosi")} {`);
  out.push("  rankdir=LR;");
  out.push("  compound=true;");
  out.push('  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];');
  out.push('  edge [color="#555555"];');
  model.groups.forEach((group, gi) => {
    out.push(`  subgraph ${dotString(`cluster_${gi}`)} {`);
    out.push(`    label=${dotString(group.name)};`);
    out.push('    style="rounded"; color="#9e9e9e"; fontname="Helvetica";');
    for (const n of group.nodes) {
      const status = n.status === "unknown" ? "unknown" : statusText(n.status);
      const lines = [n.label, `${status}${n.key ? ` · ${shortKey(n.key)}` : ""}`];
      if (n.lastRun && n.expectedToRun) lines.push(`~${formatDuration(n.lastRun.durationMs)}`);
      const colors = STATUS_COLORS[n.status];
      const attrs = [
        `label=${dotString(lines.join("\n"))}`,
        `fillcolor=${dotString(colors.fill)}`,
        `color=${dotString(colors.border)}`,
        `tooltip=${dotString(`${n.id}: ${n.reason}`)}`,
      ];
      if (n.onCriticalPath) attrs.push("penwidth=2.5");
      out.push(`    ${dotString(n.id)} [${attrs.join(", ")}];`);
    }
    out.push("  }");
  });
  for (const n of model.nodes) {
    for (const d of n.deps) {
      const dep = model.byId.get(d);
      if (!dep) continue;
      const critical = dep.onCriticalPath && n.onCriticalPath;
      out.push(
        `  ${dotString(d)} -> ${dotString(n.id)}${critical ? ' [penwidth=2.5, color="#e65100"]' : ""};`,
      );
    }
  }
  out.push("}");
  return `${out.join("\n")}\n`;
}
