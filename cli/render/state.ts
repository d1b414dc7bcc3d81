// The state of a build as seen through its events. Renderers fold events into it (O(1) per event) and
// draw from it. No dependencies on ink or react.

import type {
  CheckResult,
  EngineEvent,
  NodeId,
  PlannedNode,
  ProgressUpdate,
  TaskFailure,
} from "../../engine/api.js";
import { reasonLine } from "../graph/reason.js";
import { sanitizeLine, splitNodeId } from "./format.js";

export type NodeRunState =
  | "pending"
  | "waiting"
  /** Being downloaded from the remote cache. */
  | "pulling"
  | "cached"
  | "running"
  | "done"
  | "failed"
  | "skipped";

export interface NodeView {
  id: NodeId;
  /** Group (image); "" when the node has none. */
  group: string;
  label: string;
  /** 1-based number in order of first activity (BuildKit's "#3"); 0 until the node does something. */
  num: number;
  state: NodeRunState;
  deps: NodeId[];
  startedAt?: number;
  endedAt?: number;
  durationMs?: number;
  bytes?: number;
  key?: string;
  /** One-line reason it runs (from the started event's explanation). */
  reason?: string;
  progress?: ProgressUpdate;
  waitingOn?: string;
  /** Last lines of output, sanitized, oldest first. */
  logTail: string[];
  logLines: number;
  unchangedOutput?: boolean;
  failure?: TaskFailure;
  savedMs?: number;
  skip?: { reason: "dependency-failed" | "cancelled"; cause?: NodeId };
  /** Pulled from the remote cache: compressed bytes and time. */
  pulled?: { bytes: number; durationMs: number };
  /** Pushed to the remote cache: bytes uploaded and time. */
  pushed?: { bytes: number; durationMs: number };
  /** `--check`: the node is being run again ("running"), or how its fresh output compared. */
  check?: CheckResult | "running";
}

export type DoneEvent = Extract<EngineEvent, { type: "done" }>;

export interface BuildStateOptions {
  /** Lines of output kept per node. Default 5. */
  logTailLines?: number;
}

const TERMINAL: ReadonlySet<NodeRunState> = new Set(["cached", "done", "failed", "skipped"]);

export function isTerminal(state: NodeRunState): boolean {
  return TERMINAL.has(state);
}

export class BuildState {
  readonly nodes = new Map<NodeId, NodeView>();
  /** Groups in planned order. */
  readonly groups: string[] = [];
  /** Node ids in the order they reached a terminal state. */
  readonly finished: NodeId[] = [];
  startTime?: number;
  lastTime?: number;
  done?: DoneEvent;
  /** Warnings in the order they came (a remote cache that is down). */
  readonly warnings: string[] = [];
  /** Pushes started and not finished yet. */
  pushing = 0;
  /** Bumped on every change; renderers compare it to skip identical frames. */
  version = 0;
  private nextNum = 1;
  private readonly tailLines: number;

  constructor(options: BuildStateOptions = {}) {
    this.tailLines = Math.max(0, options.logTailLines ?? 5);
  }

  private addGroup(group: string): void {
    if (!this.groups.includes(group)) this.groups.push(group);
  }

  private plan(nodes: readonly PlannedNode[]): void {
    for (const p of nodes) {
      const existing = this.nodes.get(p.id);
      if (existing) {
        existing.group = p.group ?? existing.group;
        existing.label = p.label;
        existing.deps = [...p.deps];
      } else {
        this.nodes.set(p.id, {
          id: p.id,
          group: p.group ?? "",
          label: p.label,
          num: 0,
          state: "pending",
          deps: [...p.deps],
          logTail: [],
          logLines: 0,
        });
      }
      this.addGroup(p.group ?? "");
    }
  }

  /** The node for an id, created from the id when the plan did not list it. */
  node(id: NodeId): NodeView {
    let n = this.nodes.get(id);
    if (!n) {
      const { group, label } = splitNodeId(id);
      n = { id, group: group ?? "", label, num: 0, state: "pending", deps: [], logTail: [], logLines: 0 };
      this.nodes.set(id, n);
      this.addGroup(n.group);
    }
    return n;
  }

  private touch(id: NodeId): NodeView {
    const n = this.node(id);
    if (n.num === 0) n.num = this.nextNum++;
    return n;
  }

  private finish(n: NodeView, state: NodeRunState, time: number): void {
    const wasTerminal = isTerminal(n.state);
    n.state = state;
    n.endedAt = time;
    if (!wasTerminal) this.finished.push(n.id);
  }

  /** Fold one event in; returns the node it concerns, if any. */
  apply(event: EngineEvent): NodeView | undefined {
    this.version++;
    if (this.startTime === undefined) this.startTime = event.time;
    this.lastTime = event.time;
    switch (event.type) {
      case "planned":
        this.plan(event.nodes);
        return undefined;
      case "done":
        this.done = event;
        return undefined;
      case "warning":
        this.warnings.push(event.message);
        return event.id !== undefined ? this.node(event.id) : undefined;
      case "pulling": {
        const n = this.touch(event.id);
        n.state = "pulling";
        n.startedAt = event.time;
        n.key = event.key;
        n.progress = { message: "pulling", current: 0, total: event.bytes, unit: "bytes" };
        return n;
      }
      case "pulled": {
        const n = this.touch(event.id);
        n.pulled = { bytes: event.bytes, durationMs: event.durationMs };
        return n;
      }
      case "pushing":
        this.pushing++;
        return this.touch(event.id);
      case "pushed": {
        this.pushing = Math.max(0, this.pushing - 1);
        const n = this.touch(event.id);
        n.pushed = { bytes: event.bytes, durationMs: event.durationMs };
        return n;
      }
      case "cached": {
        const n = this.touch(event.id);
        n.key = event.key;
        n.savedMs = event.savedMs;
        this.finish(n, "cached", event.time);
        return n;
      }
      case "waiting": {
        const n = this.touch(event.id);
        n.state = "waiting";
        n.waitingOn = event.on;
        return n;
      }
      case "started": {
        const n = this.touch(event.id);
        n.state = "running";
        n.startedAt = event.time;
        n.key = event.key;
        n.waitingOn = undefined;
        n.reason = reasonLine(event.explanation, { labelOf: (id) => this.labelFrom(id, n.group) });
        return n;
      }
      case "progress": {
        const n = this.touch(event.id);
        // Merge: a counter update keeps the last message (package managers report them separately).
        n.progress = { ...n.progress, ...event.update };
        return n;
      }
      case "log": {
        const n = this.touch(event.id);
        n.logLines++;
        if (this.tailLines > 0) {
          n.logTail.push(sanitizeLine(event.line));
          if (n.logTail.length > this.tailLines) n.logTail.shift();
        }
        return n;
      }
      case "finished": {
        const n = this.touch(event.id);
        n.key = event.key;
        n.durationMs = event.durationMs;
        n.bytes = event.bytes;
        n.unchangedOutput = event.unchangedOutput;
        if (n.startedAt === undefined) n.startedAt = event.time - event.durationMs;
        this.finish(n, "done", event.time);
        return n;
      }
      case "failed": {
        const n = this.touch(event.id);
        n.failure = event.error;
        if (n.startedAt !== undefined) n.durationMs = event.time - n.startedAt;
        this.finish(n, "failed", event.time);
        return n;
      }
      case "skipped": {
        const n = this.touch(event.id);
        n.skip = { reason: event.reason, cause: event.cause };
        this.finish(n, "skipped", event.time);
        return n;
      }
      case "checking": {
        const n = this.touch(event.id);
        n.check = "running";
        return n;
      }
      case "checked": {
        const n = this.touch(event.id);
        n.check = event.result;
        return n;
      }
    }
  }

  /** `--check` results so far, in plan order. */
  checks(): { id: NodeId; result: CheckResult }[] {
    const out: { id: NodeId; result: CheckResult }[] = [];
    for (const n of this.nodes.values())
      if (n.check && n.check !== "running") out.push({ id: n.id, result: n.check });
    return out;
  }

  /** "[main] packages", or "packages" for nodes without a group. */
  name(id: NodeId): string {
    const n = this.node(id);
    return n.group ? `[${n.group}] ${n.label}` : n.label;
  }

  /** A node's label as seen from a group: bare within it, "group/label" across groups. */
  labelFrom(id: NodeId, group: string): string {
    const n = this.nodes.get(id);
    if (!n) return splitNodeId(id).label;
    return n.group && n.group !== group ? `${n.group}/${n.label}` : n.label;
  }

  counts(): Record<NodeRunState, number> {
    const c: Record<NodeRunState, number> = {
      pending: 0,
      waiting: 0,
      pulling: 0,
      cached: 0,
      running: 0,
      done: 0,
      failed: 0,
      skipped: 0,
    };
    for (const n of this.nodes.values()) c[n.state]++;
    return c;
  }

  /** Time the cache saved: the done event's figure, else the sum of the cached events' figures. */
  savedMs(): number {
    if (this.done) return this.done.savedMs;
    let s = 0;
    for (const n of this.nodes.values()) if (n.state === "cached") s += n.savedMs ?? 0;
    return s;
  }

  /** Nodes pulled from the remote cache and the bytes downloaded; the same for pushes. */
  transfers(): { pulled: number; pulledBytes: number; pushed: number; pushedBytes: number } {
    const t = { pulled: 0, pulledBytes: 0, pushed: 0, pushedBytes: 0 };
    for (const n of this.nodes.values()) {
      if (n.pulled) {
        t.pulled++;
        t.pulledBytes += n.pulled.bytes;
      }
      if (n.pushed) {
        t.pushed++;
        t.pushedBytes += n.pushed.bytes;
      }
    }
    return t;
  }

  elapsedMs(now?: number): number {
    if (this.startTime === undefined) return 0;
    const end = this.done?.time ?? now ?? this.lastTime ?? this.startTime;
    return Math.max(0, end - this.startTime);
  }
}
