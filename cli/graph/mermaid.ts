// Mermaid flowchart: one subgraph per image, nodes classed by status.

import { shortKey } from "../render/format.js";
import { STATUS_COLORS } from "./dot.js";
import type { GraphModel, ModelNode } from "./model.js";
import { statusText } from "./reason.js";

const CLASS: Record<ModelNode["status"], string> = {
  cached: "cached",
  remote: "remote",
  "will-run": "willRun",
  "pending-deps": "pendingDeps",
  "missing-input": "missingInput",
  unknown: "unknown",
};

/** Text inside a quoted mermaid label: quotes and markup characters as entities. */
export function mermaidText(text: string): string {
  return text
    .replace(/&/g, "#amp;")
    .replace(/"/g, "#quot;")
    .replace(/</g, "#lt;")
    .replace(/>/g, "#gt;")
    .replace(/\r?\n/g, " ");
}

export function renderGraphMermaid(model: GraphModel): string {
  const ids = new Map<string, string>();
  for (const [i, n] of model.nodes.entries()) ids.set(n.id, `n${i}`);
  const out: string[] = ["flowchart LR"];
  model.groups.forEach((group, gi) => {
    out.push(`  subgraph g${gi}["${mermaidText(group.name)}"]`);
    for (const n of group.nodes) {
      const status = n.status === "unknown" ? "unknown" : statusText(n.status);
      const label = `${mermaidText(n.label)}<br/>${status}${n.key ? ` ${shortKey(n.key)}` : ""}`;
      out.push(`    ${ids.get(n.id)}["${label}"]:::${CLASS[n.status]}`);
    }
    out.push("  end");
  });
  let edge = 0;
  const criticalEdges: number[] = [];
  for (const n of model.nodes) {
    for (const d of n.deps) {
      const from = ids.get(d);
      if (!from) continue;
      const critical = model.byId.get(d)?.onCriticalPath && n.onCriticalPath;
      out.push(`  ${from} ${critical ? "==>" : "-->"} ${ids.get(n.id)}`);
      if (critical) criticalEdges.push(edge);
      edge++;
    }
  }
  for (const [status, cls] of Object.entries(CLASS) as [ModelNode["status"], string][]) {
    const c = STATUS_COLORS[status];
    out.push(`  classDef ${cls} fill:${c.fill},stroke:${c.border},color:#000`);
  }
  if (criticalEdges.length > 0)
    out.push(`  linkStyle ${criticalEdges.join(",")} stroke:#e65100,stroke-width:3px`);
  return `${out.join("\n")}\n`;
}
