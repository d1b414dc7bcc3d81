// `mkosi graph --why NODE`: everything known about why one node will run (or is cached).

import type { NodeExplanation } from "../../engine/api.js";
import { formatBytes, formatDuration, type Paint, painter } from "../render/format.js";
import { findNode, type GraphModel } from "./model.js";
import { chainText, describeChange, describeChangeDetail, sortChanges, statusText } from "./reason.js";

export interface WhyOptions {
  color?: boolean;
}

export type WhyResult = { ok: true; text: string } | { ok: false; error: string; candidates: string[] };

function indent(lines: string[], by = "  "): string[] {
  return lines.map((l) => by + l);
}

export function renderWhy(model: GraphModel, query: string, options: WhyOptions = {}): WhyResult {
  const found = findNode(model, query);
  if (!found.ok) return found;
  const node = found.node;
  const paint: Paint = painter(options.color ?? false);
  const e: NodeExplanation | undefined = node.explanation;
  const labelOf = (id: string) => model.labelOf(id, node.group);
  const lines: string[] = [];

  lines.push(`${paint("bold", node.id)} (task ${node.task}, image ${node.group})`);
  lines.push(`  status: ${e ? statusText(e.status) : "unknown (no explanation)"}`);
  lines.push(`  key:    ${node.key ?? "(not known until its dependencies have run)"}`);
  if (node.lastRun) {
    const r = node.lastRun;
    lines.push(
      `  last run: ${new Date(r.finishedAt).toISOString()}, took ${formatDuration(r.durationMs)}, output ${formatBytes(
        r.bytes,
      )}`,
    );
    lines.push(`            key ${r.key}`);
    lines.push(`            digest ${r.digest}`);
  } else {
    lines.push("  last run: never");
  }
  if (node.deps.length > 0) lines.push(`  depends on: ${node.deps.map(labelOf).join(", ")}`);
  if (!e) return { ok: true, text: `${lines.join("\n")}\n` };

  lines.push("");
  lines.push(`${paint("bold", "Reason:")} ${node.reason}`);

  if (e.status === "cached") {
    lines.push("  The cache holds an output for the current key; nothing changed since it was built.");
  } else if (e.status === "remote") {
    const size = e.remote
      ? ` (${formatBytes(e.remote.bytes)} to download, ${formatBytes(e.remote.unpackedBytes)} unpacked)`
      : "";
    lines.push(`  The remote cache holds an output for the current key${size}: it will be pulled, not run.`);
  } else if (e.firstRun) {
    lines.push("  No earlier run of this node is recorded.");
  }

  if (e.changes.length > 0) {
    lines.push("");
    lines.push(paint("bold", "Changed inputs:"));
    for (const c of sortChanges(e.changes)) lines.push(...indent(describeChangeDetail(c)));
  }

  if (e.upstream.length > 0) {
    lines.push("");
    lines.push(paint("bold", "Waits on:"));
    lines.push(
      ...indent(e.upstream.map((id) => `${labelOf(id)} (${model.byId.get(id)?.reason ?? "will run"})`)),
    );
  }

  const causes = e.rootCauses.filter((rc) => rc.chain.length > 1 || e.status !== "will-run");
  if (causes.length > 0) {
    lines.push("");
    lines.push(paint("bold", causes.length === 1 ? "Root cause:" : "Root causes:"));
    for (const rc of causes) {
      const root = rc.chain[rc.chain.length - 1];
      const summary =
        rc.changes.length > 0
          ? sortChanges(rc.changes)
              .map((c) => describeChange(c))
              .join("; ")
          : root !== undefined && model.byId.get(root)?.explanation?.firstRun
            ? "never built"
            : "changed";
      lines.push(`  ${chainText(rc.chain, labelOf)}: ${summary}`);
      for (const c of sortChanges(rc.changes)) lines.push(...indent(describeChangeDetail(c), "    "));
    }
  }
  return { ok: true, text: `${lines.join("\n")}\n` };
}
