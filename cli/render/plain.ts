// BuildKit-style plain progress: one line per thing that happens, prefixed "#N [image] node", numbered
// in order of first activity. No escape codes: this is what pipes and CI logs get.

import type { EngineEvent } from "../../engine/api.js";
import { formatBytes, formatDuration, formatProgress, sanitizeLine } from "./format.js";
import { checkBlocks, checkText, failureBlocks, formatSummary } from "./messages.js";
import { BuildState, type NodeView } from "./state.js";
import type { OutputStream, Renderer } from "./types.js";

export interface PlainOptions {
  /** Minimum time between two progress lines of one node, in event time. Default 1000 ms. */
  progressIntervalMs?: number;
}

export class PlainRenderer implements Renderer {
  readonly state = new BuildState({ logTailLines: 0 });
  private readonly lastProgress = new Map<string, { time: number; message?: string }>();
  private closed = false;
  private summaryWritten = false;
  /** Lines held back while suspended. */
  private held?: string[];

  constructor(
    private readonly stream: OutputStream,
    private readonly options: PlainOptions = {},
  ) {}

  private prefix(n: NodeView): string {
    return `#${n.num} ${n.group ? `[${n.group}] ` : ""}${n.label}`;
  }

  private write(lines: string[]): void {
    if (lines.length === 0) return;
    if (this.held) this.held.push(...lines);
    else this.stream.write(`${lines.join("\n")}\n`);
  }

  async suspend(): Promise<void> {
    this.held ??= [];
  }

  resume(): void {
    const held = this.held;
    this.held = undefined;
    if (held) this.write(held);
  }

  note(text: string): void {
    if (!this.closed) this.write(text.split("\n").map(sanitizeLine));
  }

  onEvent(event: EngineEvent): void {
    if (this.closed) return;
    const n = this.state.apply(event);
    this.write(this.linesFor(event, n));
  }

  /** The lines one event produces (exposed for tests and for composing). */
  linesFor(event: EngineEvent, n: NodeView | undefined): string[] {
    switch (event.type) {
      case "planned":
        return [];
      case "done":
        return this.summary();
      case "warning":
        return [`WARNING: ${sanitizeLine(event.message)}`];
    }
    if (!n) return [];
    const p = this.prefix(n);
    switch (event.type) {
      case "cached":
        // A pulled node said so already.
        return n.pulled ? [] : [`${p} CACHED`];
      case "pulling":
        return [`${p} PULLING ${formatBytes(event.bytes)}`];
      case "pulled":
        return [`${p} PULLED ${formatBytes(event.bytes)} in ${formatDuration(event.durationMs)}`];
      case "pushing":
        return [`${p} PUSHING`];
      case "pushed":
        return [`${p} PUSHED ${formatBytes(event.bytes)} in ${formatDuration(event.durationMs)}`];
      case "waiting":
        return [`${p} WAITING for ${event.on}`];
      case "started":
        return [`${p} RUNNING${n.reason ? ` (${n.reason})` : ""}`];
      case "progress": {
        const last = this.lastProgress.get(n.id);
        const interval = this.options.progressIntervalMs ?? 1000;
        const u = n.progress ?? {};
        const complete = u.total !== undefined && u.current !== undefined && u.current >= u.total;
        const messageChanged = event.update.message !== undefined && event.update.message !== last?.message;
        if (last && !messageChanged && !complete && event.time - last.time < interval) return [];
        this.lastProgress.set(n.id, { time: event.time, message: u.message });
        const text = formatProgress(u);
        return text ? [`${p} ${text}`] : [];
      }
      case "log":
        return [`${p}: ${sanitizeLine(event.line)}`];
      case "finished": {
        const extra = [formatBytes(event.bytes)];
        if (event.unchangedOutput) extra.push("output unchanged");
        return [`${p} DONE ${formatDuration(event.durationMs)} (${extra.join(", ")})`];
      }
      case "failed": {
        const why =
          event.error.exitCode !== undefined ? `exit status ${event.error.exitCode}` : event.error.message;
        const after = n.durationMs !== undefined ? ` after ${formatDuration(n.durationMs)}` : "";
        return [`${p} ERROR${after}: ${why}`];
      }
      case "skipped":
        return [
          `${p} SKIPPED (${
            event.reason === "cancelled"
              ? "cancelled"
              : `${event.cause ? this.state.name(event.cause) : "a dependency"} failed`
          })`,
        ];
      case "checking":
        return [`${p} CHECKING (running the cached step again)`];
      case "checked":
        return [`${p} CHECK ${checkText(event.result)}`];
    }
  }

  private summary(): string[] {
    if (this.summaryWritten) return [];
    this.summaryWritten = true;
    const lines = [""];
    const failures = failureBlocks(this.state);
    if (failures.length > 0) lines.push(...failures, "");
    const checks = checkBlocks(this.state);
    if (checks.length > 0) lines.push(...checks, "");
    lines.push(formatSummary(this.state));
    return lines;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.resume();
    // Interrupted before "done": still say where things stand.
    if (!this.summaryWritten && this.state.startTime !== undefined) this.write(this.summary());
    this.closed = true;
  }
}
