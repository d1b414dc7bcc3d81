// Text shared by every renderer: the failure block, the final summary and the --explain listing.

import type { CheckResult, NodeExplanation, PlannedNode, TaskFailure } from "../../engine/api.js";
import { DISK_FULL } from "../../engine/exec.js";
import { buildModel } from "../graph/model.js";
import { statusText } from "../graph/reason.js";
import { formatBytes, formatCommand, formatDuration, type Paint, pad, painter } from "./format.js";
import type { BuildState } from "./state.js";

export interface FailureOptions {
  color?: boolean;
  /** Most log lines to show. Default 20. */
  maxLogLines?: number;
}

/** What failed and where to look: node, message, command, exit status, tail of the log, log file. */
export function formatFailure(name: string, failure: TaskFailure, options: FailureOptions = {}): string[] {
  const paint = painter(options.color ?? false);
  const lines = [`${paint("red", paint("bold", "ERROR:"))} ${paint("bold", name)}: ${failure.message}`];
  if (failure.command && failure.command.length > 0)
    lines.push(`  command: ${formatCommand(failure.command)}`);
  if (failure.exitCode !== undefined) lines.push(`  exit status: ${failure.exitCode}`);
  const max = options.maxLogLines ?? 20;
  const tail = failure.logTail.slice(-max);
  // Said plainly, whoever reported it (a tool's message in the output, Node's ENOSPC).
  if (DISK_FULL.test(failure.message) || failure.logTail.some((line) => DISK_FULL.test(line)))
    lines.push(
      `  cause: ${paint("bold", "No space left on device")} (a file system the build writes to is full)`,
    );
  if (tail.length > 0) {
    lines.push(`  last ${tail.length === 1 ? "line" : `${tail.length} lines`} of output:`);
    for (const l of tail) lines.push(`    ${paint("dim", "│")} ${l}`);
  }
  lines.push(`  full log: ${failure.logFile}`);
  return lines;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** "Build finished in 3.2s: 1 node run, 2 cached (saved 1m 22s)". */
export function formatSummary(state: BuildState, options: { color?: boolean; now?: number } = {}): string {
  const paint = painter(options.color ?? false);
  const c = state.counts();
  const done = state.done;
  const ran = done?.ran ?? c.done + c.failed;
  const cached = done?.cached ?? c.cached;
  const failed = done?.failed ?? c.failed;
  const ok = done ? done.ok : failed === 0;
  const elapsed = formatDuration(state.elapsedMs(options.now));
  const parts = [`${plural(ran, "node")} run`, `${cached} cached`];
  const saved = state.savedMs();
  if (saved > 0) parts[1] += ` (saved ${formatDuration(saved)})`;
  const t = state.transfers();
  if (t.pulled > 0) parts.push(`${t.pulled} pulled (${formatBytes(t.pulledBytes)})`);
  if (t.pushed > 0) parts.push(`${t.pushed} pushed (${formatBytes(t.pushedBytes)})`);
  if (failed > 0) parts.push(`${failed} failed`);
  if (c.skipped > 0) parts.push(`${c.skipped} skipped`);
  const head = !done
    ? `Build stopped after ${elapsed}`
    : ok
      ? paint("green", `Build finished in ${elapsed}`)
      : paint("red", `Build failed after ${elapsed}`);
  return `${head}: ${parts.join(", ")}`;
}

/** One `--check` result in a few words: "same", "DIFFERS: etc/motd modified, var/log/x added". */
export function checkText(result: CheckResult, maxFiles = 5): string {
  if (result.status === "same") return "same output";
  if (result.status === "failed") return `FAILED: ${result.message}`;
  const files = result.files
    ? [
        ...result.files.modified.map((f) => `${f} modified`),
        ...result.files.added.map((f) => `${f} added`),
        ...result.files.removed.map((f) => `${f} removed`),
      ]
    : [];
  const parts = files.slice(0, maxFiles);
  if (files.length > maxFiles) parts.push(`and ${files.length - maxFiles} more`);
  if (result.metaChanged) parts.push("metadata changed");
  return `DIFFERS${parts.length > 0 ? `: ${parts.join(", ")}` : ""} (cached ${result.cachedDigest.slice(0, 12)}, now ${result.freshDigest.slice(0, 12)})`;
}

/** `--check`: a block naming every node whose fresh output differs from its cached one. */
export function checkBlocks(state: BuildState): string[] {
  const checks = state.checks();
  if (checks.length === 0) return [];
  const bad = checks.filter((c) => c.result.status !== "same");
  const lines = [
    `Check: ${plural(checks.length, "cached step")} run again, ${checks.length - bad.length} with the same output${
      bad.length > 0 ? `, ${bad.length} not:` : ""
    }`,
  ];
  for (const c of bad) lines.push(`  ${state.name(c.id)}: ${checkText(c.result, 20)}`);
  if (bad.length > 0)
    lines.push(
      "  A step that gives another output from the same inputs is not deterministic, or reads something its key does not cover.",
    );
  return lines;
}

/** The failure blocks of every failed node, in order of failure. */
export function failureBlocks(state: BuildState, options: FailureOptions = {}): string[] {
  const lines: string[] = [];
  for (const id of state.finished) {
    const n = state.nodes.get(id);
    if (n?.state !== "failed" || !n.failure) continue;
    if (lines.length > 0) lines.push("");
    lines.push(...formatFailure(state.name(id), n.failure, options));
  }
  return lines;
}

export interface ExplainOptions {
  color?: boolean;
  /** The plan, for order and labels; without it the explanations' order is used. */
  nodes?: PlannedNode[];
}

/** `--explain`: before running, which nodes will run and why. */
export function renderExplain(explanations: NodeExplanation[], options: ExplainOptions = {}): string {
  const paint: Paint = painter(options.color ?? false);
  const planned =
    options.nodes ??
    explanations.map((e) => ({
      id: e.id,
      group: e.group,
      label: e.label,
      task: e.task,
      deps: [] as string[],
    }));
  const model = buildModel({ nodes: planned, explanations });
  const notCached = model.nodes.filter((n) => n.status !== "cached" && n.status !== "unknown");
  const lines: string[] = [];
  if (notCached.length === 0) {
    lines.push(`Nothing to do: all ${plural(model.nodes.length, "node")} cached.`);
    return `${lines.join("\n")}\n`;
  }
  lines.push(`${notCached.length} of ${plural(model.nodes.length, "node")} will run or may run:`);
  const width = Math.max(...notCached.map((n) => n.label.length + n.group.length + 3));
  const statusWidth = Math.max(
    ...notCached.map((n) => statusText(n.status as NodeExplanation["status"]).length),
  );
  for (const n of notCached) {
    const status = statusText(n.status as NodeExplanation["status"]);
    const style = n.status === "will-run" ? "yellow" : n.status === "missing-input" ? "red" : "cyan";
    lines.push(
      `  ${pad(`[${n.group}] ${n.label}`, width)}  ${paint(style, pad(status, statusWidth))}  ${n.reason}`,
    );
  }
  const cached = model.nodes.length - notCached.length;
  if (cached > 0) lines.push(paint("dim", `${plural(cached, "node")} cached.`));
  return `${lines.join("\n")}\n`;
}
