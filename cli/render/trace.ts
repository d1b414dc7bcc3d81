// `--trace FILE`: Chrome trace-event JSON (the "JSON Object Format"), loadable by Perfetto and
// chrome://tracing. One process per image (group), one thread lane per concurrently running node in
// that image (lane 0 holds instant events: cache hits, skips), a complete ("X") event per node run.

import { writeFile } from "node:fs/promises";
import type { EngineEvent, NodeId } from "../../engine/api.js";
import { formatProgress } from "./format.js";
import { BuildState } from "./state.js";
import type { Renderer } from "./types.js";

export interface TraceEvent {
  name: string;
  cat?: string;
  ph: "X" | "i" | "M" | "C";
  /** Microseconds since the first event. */
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  s?: "t" | "p" | "g";
  args?: Record<string, unknown>;
}

export interface TraceFile {
  traceEvents: TraceEvent[];
  displayTimeUnit: "ms";
  otherData?: Record<string, unknown>;
}

/** Collects events and produces a trace. */
export class TraceBuilder {
  readonly state = new BuildState({ logTailLines: 0 });
  private readonly events: TraceEvent[] = [];
  private readonly pids = new Map<string, number>();
  /** Per pid: end time (µs) of each lane's current occupant, or undefined when free. */
  private readonly lanes = new Map<number, (NodeId | undefined)[]>();
  private readonly laneOf = new Map<NodeId, { pid: number; tid: number; ts: number }>();
  private t0?: number;

  private us(time: number): number {
    return Math.round((time - (this.t0 ?? time)) * 1000);
  }

  private pid(group: string): number {
    let pid = this.pids.get(group);
    if (pid === undefined) {
      pid = this.pids.size + 1;
      this.pids.set(group, pid);
      this.events.push({
        name: "process_name",
        ph: "M",
        ts: 0,
        pid,
        tid: 0,
        args: { name: group || "build" },
      });
      this.events.push({
        name: "process_sort_index",
        ph: "M",
        ts: 0,
        pid,
        tid: 0,
        args: { sort_index: pid },
      });
      this.events.push({ name: "thread_name", ph: "M", ts: 0, pid, tid: 0, args: { name: "cache hits" } });
      this.lanes.set(pid, []);
    }
    return pid;
  }

  private takeLane(pid: number, id: NodeId): number {
    const lanes = this.lanes.get(pid)!;
    let i = lanes.indexOf(undefined);
    if (i === -1) {
      i = lanes.length;
      lanes.push(undefined);
      this.events.push({
        name: "thread_name",
        ph: "M",
        ts: 0,
        pid,
        tid: i + 1,
        args: { name: `lane ${i + 1}` },
      });
    }
    lanes[i] = id;
    return i + 1;
  }

  private releaseLane(id: NodeId): { pid: number; tid: number; ts: number } | undefined {
    const lane = this.laneOf.get(id);
    if (!lane) return undefined;
    this.laneOf.delete(id);
    const lanes = this.lanes.get(lane.pid)!;
    lanes[lane.tid - 1] = undefined;
    return lane;
  }

  add(event: EngineEvent): void {
    if (this.t0 === undefined) this.t0 = event.time;
    const n = this.state.apply(event);
    if (!n) {
      if (event.type === "planned") for (const g of this.state.groups) this.pid(g);
      return;
    }
    const pid = this.pid(n.group);
    const ts = this.us(event.time);
    switch (event.type) {
      case "started":
        this.laneOf.set(n.id, { pid, tid: this.takeLane(pid, n.id), ts });
        return;
      case "cached":
        this.events.push({
          name: `${n.label} (cached)`,
          cat: "cached",
          ph: "i",
          s: "t",
          ts,
          pid,
          tid: 0,
          args: { id: n.id, key: event.key, digest: event.digest, savedMs: event.savedMs ?? null },
        });
        return;
      case "skipped":
        this.events.push({
          name: `${n.label} (skipped)`,
          cat: "skipped",
          ph: "i",
          s: "t",
          ts,
          pid,
          tid: 0,
          args: { id: n.id, reason: event.reason, cause: event.cause ?? null },
        });
        return;
      case "finished":
      case "failed": {
        const lane = this.releaseLane(n.id) ?? {
          pid,
          tid: this.takeLaneAndRelease(pid, n.id),
          ts: event.type === "finished" ? this.us(event.time - event.durationMs) : ts,
        };
        const args: Record<string, unknown> = { id: n.id, key: n.key ?? null };
        if (n.reason) args.reason = n.reason;
        if (n.progress) args.progress = formatProgress(n.progress);
        if (n.logLines > 0) args.logLines = n.logLines;
        if (event.type === "finished") {
          args.digest = event.digest;
          args.bytes = event.bytes;
          args.unchangedOutput = event.unchangedOutput;
        } else {
          args.error = event.error.message;
          if (event.error.exitCode !== undefined) args.exitCode = event.error.exitCode;
          args.logFile = event.error.logFile;
        }
        this.events.push({
          name: n.label,
          cat: event.type === "finished" ? "run" : "failed",
          ph: "X",
          ts: lane.ts,
          dur: Math.max(0, ts - lane.ts),
          pid: lane.pid,
          tid: lane.tid,
          args,
        });
        return;
      }
      default:
        return;
    }
  }

  private takeLaneAndRelease(pid: number, id: NodeId): number {
    const tid = this.takeLane(pid, id);
    this.lanes.get(pid)![tid - 1] = undefined;
    return tid;
  }

  /** The trace so far. Nodes still running are closed at the last event's time. */
  toJson(): TraceFile {
    const events = [...this.events];
    const end = this.us(this.state.lastTime ?? this.t0 ?? 0);
    for (const [id, lane] of this.laneOf) {
      events.push({
        name: this.state.node(id).label,
        cat: "unfinished",
        ph: "X",
        ts: lane.ts,
        dur: Math.max(0, end - lane.ts),
        pid: lane.pid,
        tid: lane.tid,
        args: { id, unfinished: true },
      });
    }
    const done = this.state.done;
    return {
      traceEvents: events,
      displayTimeUnit: "ms",
      otherData: {
        tool: "mkosi",
        startTime: this.t0 === undefined ? null : new Date(this.t0).toISOString(),
        ...(done
          ? { ok: done.ok, ran: done.ran, cached: done.cached, failed: done.failed, savedMs: done.savedMs }
          : {}),
      },
    };
  }
}

/** Writes the trace to a file on close. */
export class TraceRenderer implements Renderer {
  readonly builder = new TraceBuilder();
  private written?: Promise<void>;

  constructor(private readonly file: string) {}

  onEvent(event: EngineEvent): void {
    this.builder.add(event);
  }

  close(): Promise<void> {
    this.written ??= writeFile(this.file, `${JSON.stringify(this.builder.toJson())}\n`);
    return this.written;
  }
}
