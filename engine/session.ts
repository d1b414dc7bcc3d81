// One run of a plan: keys nodes as their dependencies resolve (early cutoff: a dependency's output
// digest, not its key, enters a node's key), serves cache hits, queues the rest by critical-path
// priority under the concurrency limit, and settles every node exactly once (cached, done, failed,
// skipped), streaming events.
import type {
  DepOutput,
  EngineEvent,
  NodeExplanation,
  NodeId,
  PlannedNode,
  RunOptions,
  RunSummary,
  TaskFailure,
} from "./api.js";
import type { Executor } from "./execute.js";
import { CauseFinder, type PartialSignature } from "./explain.js";
import { explainNode, reasonFor } from "./explanation.js";
import type { Keys } from "./keys.js";
import { buildPlan, type Guess, type Plan, type PlanNode } from "./plan.js";
import type { RemoteCache, RemoteHooks } from "./remote/cache.js";
import { RunPulls } from "./remote/lookahead.js";
import { type EngineState, logFileOf, now } from "./state.js";
import { HISTORY_KEYS, type HistoryRecord, type LastRecord } from "./store.js";

/** After cancellation, how long running tasks get to notice their signal before run() stops waiting. */
const CANCEL_GRACE_MS = 5000;

export interface SessionHost {
  state: EngineState;
  keys: Keys;
  executor: Executor;
  concurrency: number;
  /** Cache hits refresh an entry's LRU time only when it is older than this. */
  lruRefreshMs: number;
  /** Remove temporary directories of dead processes (runs alongside the build). */
  sweepTmp(): Promise<void>;
  /** The remote cache: pulled from after a local miss, pushed to after a node settles (when enabled). */
  remote?: RemoteCache;
}

type Settled = "cached" | "done" | "failed" | "skipped";

export class RunSession {
  private readonly plan: Plan;
  private readonly abort = new AbortController();
  private readonly forced: Set<NodeId>;
  private readonly summary: RunSummary = {
    ok: true,
    outputs: {},
    failures: {},
    ran: [],
    cached: [],
    skipped: [],
    pulled: [],
  };
  private readonly causes: CauseFinder;
  private readonly produced = new Map<PlanNode, (o: DepOutput | undefined) => void>();
  private readonly histWrites: Promise<unknown>[] = [];
  private readonly usedKeys: string[] = [];
  private readonly queue: PlanNode[] = [];
  private listenerError: unknown;
  private savedMs = 0;
  private remaining: number;
  private active = 0;
  private finish!: () => void;
  private readonly allDone: Promise<void>;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly remoteHooks: RemoteHooks;
  private readonly pulls: RunPulls | undefined;
  private readonly pushes: Promise<boolean>[] = [];
  private pushedCount = 0;

  constructor(
    private readonly host: SessionHost,
    specs: Parameters<typeof buildPlan>[0],
    private readonly options: RunOptions,
  ) {
    this.plan = buildPlan(specs, options.targets);
    this.forced = new Set(options.forceRun ?? []);
    this.causes = new CauseFinder(host.state.store, (id) => this.plan.nodes.get(id)?.partial);
    this.remaining = this.plan.order.length;
    this.allDone = new Promise<void>((res) => {
      this.finish = res;
    });
    this.remoteHooks = { emit: this.emit, signal: this.abort.signal, protect: this.protect };
    if (host.remote) {
      this.pulls = new RunPulls(
        host.remote,
        this.plan,
        host.keys,
        host.state,
        this.remoteHooks,
        (n) => !n.problem && n.spec.task.cache !== "always" && !this.forced.has(n.id),
      );
    }
  }

  private get signal(): AbortSignal {
    return this.abort.signal;
  }

  private emit = (e: EngineEvent): void => {
    if (e.type === "pushed") this.pushedCount++;
    if (!this.options.onEvent) return;
    try {
      this.options.onEvent(e);
    } catch (err) {
      this.listenerError ??= err;
    }
  };

  private protect = (key: string): void => {
    this.usedKeys.push(key);
    const keys = this.host.state.protectedKeys;
    keys.set(key, (keys.get(key) ?? 0) + 1);
  };

  async run(): Promise<RunSummary> {
    const { keys, state } = this.host;
    const plan = this.plan;
    void keys.prefetch(plan);
    keys.speculate(plan);
    const outer = this.options.signal;
    const onOuterAbort = () => this.abort.abort(outer?.reason);
    if (outer?.aborted) this.abort.abort(outer.reason);
    else outer?.addEventListener("abort", onOuterAbort, { once: true });

    this.emit({ type: "planned", time: now(), nodes: plan.order.map(plannedNode) });
    this.host.remote?.flushWarnings(this.remoteHooks);

    const onAbort = () => this.onAbort();
    this.signal.addEventListener("abort", onAbort, { once: true });
    const sweep = this.host.sweepTmp();
    if (plan.order.length === 0) this.finish();
    else if (this.signal.aborted) this.onAbort();
    else for (const n of plan.order) if (n.depIds.length === 0 && n.state === "pending") this.key(n);
    await this.allDone;
    if (this.options.check && !this.signal.aborted) await this.check(this.options.check);
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.signal.removeEventListener("abort", onAbort);
    outer?.removeEventListener("abort", onOuterAbort);
    await Promise.all(this.histWrites);
    await state.fp.flush();
    await sweep;
    // Pulls started ahead for nodes that never needed them, and pushes, finish before keys are released.
    await this.pulls?.settled();
    await Promise.all(this.pushes);
    for (const k of this.usedKeys) {
      const c = (state.protectedKeys.get(k) ?? 1) - 1;
      if (c <= 0) state.protectedKeys.delete(k);
      else state.protectedKeys.set(k, c);
    }
    const summary = this.summary;
    this.emit({
      type: "done",
      time: now(),
      ok: summary.ok,
      ran: summary.ran.length,
      cached: summary.cached.length,
      failed: Object.keys(summary.failures).length,
      savedMs: this.savedMs,
      ...(this.host.remote ? { pulled: summary.pulled?.length ?? 0, pushed: this.pushedCount } : {}),
    });
    if (this.listenerError) throw this.listenerError;
    return summary;
  }

  // -------------------------------------------------------------------------------------------
  // --check: re-execute cached nodes, compare outputs

  private async check(how: true | number): Promise<void> {
    let candidates = this.plan.order.filter(
      (n) => n.state === "cached" && n.spec.task.checkable !== false && n.spec.task.cache !== "always",
    );
    if (typeof how === "number") {
      // A random sample (Fisher-Yates), re-executed in plan order.
      const picked = [...candidates];
      for (let i = picked.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [picked[i], picked[j]] = [picked[j]!, picked[i]!];
      }
      const chosen = new Set(picked.slice(0, Math.max(0, how)));
      candidates = candidates.filter((n) => chosen.has(n));
    }
    const checks: NonNullable<RunSummary["checks"]> = [];
    // One at a time: the point is a faithful re-execution, not speed.
    for (const n of candidates) {
      if (this.signal.aborted) break;
      this.emit({ type: "checking", time: now(), id: n.id, key: n.key! });
      const result = await this.host.executor.recheck(n, this.signal, this.emit, this.protect);
      checks.push(result);
      if (result.status !== "same") this.summary.ok = false;
      this.emit({ type: "checked", time: now(), id: n.id, result });
    }
    this.summary.checks = checks;
  }

  // -------------------------------------------------------------------------------------------
  // Settling nodes

  private terminal(n: PlanNode): boolean {
    return n.state === "cached" || n.state === "done" || n.state === "failed" || n.state === "skipped";
  }

  private settle(n: PlanNode, state: Settled): void {
    if (this.terminal(n)) return;
    n.state = state;
    this.remaining--;
    if (state === "cached" || state === "done") {
      this.summary.outputs[n.id] = n.output!;
      this.push(n);
      for (const d of n.dependants) {
        const dn = this.plan.nodes.get(d)!;
        if (dn.state === "pending" && dn.depIds.every((x) => this.plan.nodes.get(x)!.output)) this.key(dn);
      }
    } else if (state === "failed") {
      this.skipDependants(n, n.id);
    }
    if (this.remaining === 0) this.finish();
    else this.pump();
  }

  /** With --cache-push: the remote gets every output of the run it lacks (not pulled ones, which it has). */
  private push(n: PlanNode): void {
    const remote = this.host.remote;
    if (!remote?.pushEnabled || n.spec.task.cache === "always" || !n.output) return;
    if (this.pulls?.pulledKeys.has(n.output.key)) return;
    this.pushes.push(remote.push(n.output.key, this.remoteHooks, n.id));
  }

  private skipDependants(n: PlanNode, cause: NodeId): void {
    for (const d of n.dependants) {
      const dn = this.plan.nodes.get(d)!;
      if (dn.state !== "pending") continue;
      dn.state = "skipped";
      this.summary.skipped.push(dn.id);
      this.emit({ type: "skipped", time: now(), id: dn.id, reason: "dependency-failed", cause });
      this.remaining--;
      this.skipDependants(dn, cause);
    }
  }

  private fail(n: PlanNode, failure: TaskFailure): void {
    if (this.terminal(n)) return;
    this.summary.ok = false;
    this.summary.failures[n.id] = failure;
    this.emit({ type: "failed", time: now(), id: n.id, error: failure });
    this.settle(n, "failed");
  }

  private failInputs(n: PlanNode, err: unknown): void {
    this.fail(n, {
      message: `cannot compute inputs: ${(err as Error).message}`,
      logTail: [],
      logFile: logFileOf(this.host.state, n.id),
    });
  }

  private cancel(n: PlanNode): void {
    if (this.terminal(n)) return;
    this.produced.get(n)?.(undefined);
    this.summary.ok = false;
    this.summary.skipped.push(n.id);
    this.emit({ type: "skipped", time: now(), id: n.id, reason: "cancelled" });
    this.settle(n, "skipped");
  }

  private markCached(
    n: PlanNode,
    out: DepOutput & { durationMs?: number },
    last: LastRecord | undefined,
  ): void {
    const { store } = this.host.state;
    const saved = out.durationMs ?? store.getOutput(out.key)?.durationMs ?? 0;
    n.output = { id: n.id, key: out.key, digest: out.digest, dir: out.dir, meta: out.meta };
    this.protect(out.key);
    this.savedMs += saved;
    this.summary.cached.push(n.id);
    if (this.pulls?.pulledKeys.has(out.key)) this.summary.pulled?.push(n.id);
    const t = now();
    const sameAsLast = last?.key === out.key && last.digest === out.digest;
    // The identity's last-use record says when this key was last used through it: most no-op builds
    // write nothing at all.
    if (!sameAsLast || last.used === undefined || t - last.used > this.host.lruRefreshMs) {
      this.histWrites.push(store.lru.put(out.key, t));
      this.histWrites.push(this.recordUse(n.id, out, sameAsLast, t));
    }
    this.emit({ type: "cached", time: now(), id: n.id, key: out.key, digest: out.digest, savedMs: saved });
    this.settle(n, "cached");
  }

  private async recordUse(id: NodeId, out: DepOutput, sameAsLast: boolean, used: number): Promise<void> {
    const { store } = this.host.state;
    if (!sameAsLast) {
      const h: HistoryRecord = store.getHistory(id) ?? { runs: [], keys: [] };
      if (h.keys[h.keys.length - 1] !== out.key) {
        h.keys = [...h.keys.filter((k) => k !== out.key), out.key].slice(-HISTORY_KEYS);
        await store.hist.put(id, h);
      }
    }
    await store.last.put(id, { key: out.key, digest: out.digest, used });
  }

  // -------------------------------------------------------------------------------------------
  // Keying: a node is keyed once all its dependencies have outputs.

  private key(n: PlanNode): void {
    n.state = "keying";
    if (this.signal.aborted) {
      this.cancel(n);
      return;
    }
    if (n.problem) {
      this.fail(n, { message: n.problem, logTail: [], logFile: logFileOf(this.host.state, n.id) });
      return;
    }
    const { keys } = this.host;
    const g = keys.confirmGuess(n, this.plan);
    if (g) {
      void this.keyed(n, g.partial, g);
      return;
    }
    let sig: PartialSignature | Promise<PartialSignature>;
    try {
      sig = keys.signature(n, this.plan);
    } catch (err) {
      this.failInputs(n, err);
      return;
    }
    if (sig instanceof Promise) {
      sig.then(
        (s) => {
          if (!this.terminal(n)) void this.keyed(n, s);
        },
        (err) => this.failInputs(n, err),
      );
    } else {
      void this.keyed(n, sig);
    }
  }

  private async keyed(n: PlanNode, sig: PartialSignature, guess?: Guess): Promise<void> {
    if (this.signal.aborted) return this.cancel(n);
    const { keys, state } = this.host;
    try {
      n.partial = sig;
      n.key = guess ? guess.key : keys.keyOf(sig.sig);
    } catch (err) {
      return this.failInputs(n, err);
    }
    const hist = guess ? guess.last : state.store.getLast(n.id);
    // A cache hit the caller rejects runs as forced (and is not taken from another process either).
    if (this.options.acceptCached?.(n.id, n.key) === false) this.forced.add(n.id);
    const isForced = this.forced.has(n.id);
    const always = n.spec.task.cache === "always";
    if (!isForced && !always) {
      const out = guess ? guess.out : keys.cachedOutput(n.id, n.key);
      if (out) return this.markCached(n, out, hist);
      const inProgress = state.producing.get(n.key);
      if (inProgress) {
        const o = await inProgress;
        if (o) return this.markCached(n, { ...o, id: n.id }, hist);
        // The identical node failed: this one would fail the same way.
      }
      if (this.pulls) {
        const o = await this.pulls.pull(n, n.key);
        if (this.signal.aborted) return this.cancel(n);
        if (o) return this.markCached(n, { ...o, id: n.id }, hist);
      }
    }
    const reason = reasonFor(n, hist, isForced);
    const expl = explainNode(state.store, n, this.causes, "will-run", hist, reason, []);
    if (this.options.forbidRun) {
      const why = this.options.forbidRun(expl);
      if (why !== undefined)
        return this.fail(n, { message: why, logTail: [], logFile: logFileOf(state, n.id) });
    }
    let resolveP!: (o: DepOutput | undefined) => void;
    const p = new Promise<DepOutput | undefined>((r) => {
      resolveP = r;
    });
    if (!state.producing.has(n.key)) {
      const k = n.key;
      state.producing.set(k, p);
      void p.then(() => {
        if (state.producing.get(k) === p) state.producing.delete(k);
      });
    }
    this.produced.set(n, resolveP);
    n.state = "queued";
    this.queue.push(n);
    (n as PlanNode & { expl?: NodeExplanation }).expl = expl;
    this.pump();
  }

  // -------------------------------------------------------------------------------------------
  // Running: the highest-priority queued nodes, up to the concurrency limit.

  private pump(): void {
    while (this.active < this.host.concurrency && this.queue.length > 0) {
      if (this.signal.aborted) {
        for (const n of this.queue.splice(0)) this.cancel(n);
        return;
      }
      let best = 0;
      for (let i = 1; i < this.queue.length; i++)
        if (this.queue[i]!.priority > this.queue[best]!.priority) best = i;
      const n = this.queue.splice(best, 1)[0]!;
      this.active++;
      n.state = "running";
      const resolveP = this.produced.get(n)!;
      void this.host.executor.execute(n, this.signal, this.emit, this.forced.has(n.id), this.protect).then(
        (res) => {
          this.active--;
          resolveP(res.kind === "ok" || res.kind === "cached" ? res.output : undefined);
          if (res.kind === "ok") {
            n.output = res.output;
            this.summary.ran.push(n.id);
            this.settle(n, "done");
          } else if (res.kind === "cached") {
            this.markCached(n, res.output, this.host.state.store.getLast(n.id));
          } else if (res.kind === "cancelled") {
            this.cancel(n);
          } else {
            this.fail(n, res.failure);
          }
        },
        (err) => {
          this.active--;
          resolveP(undefined);
          this.fail(n, { message: String((err as Error)?.stack ?? err), logTail: [], logFile: "" });
        },
      );
    }
  }

  private onAbort(): void {
    // Nodes not started yet are cancelled now; running ones when their task settles.
    for (const n of this.queue.splice(0)) this.cancel(n);
    for (const n of this.plan.order) {
      if (n.state === "pending") {
        n.state = "skipped";
        this.summary.skipped.push(n.id);
        this.emit({ type: "skipped", time: now(), id: n.id, reason: "cancelled" });
        this.remaining--;
      }
    }
    this.summary.ok = false;
    if (this.remaining === 0) this.finish();
    // Tasks that ignore their signal are not waited for forever (their late results are discarded).
    this.graceTimer = setTimeout(() => {
      for (const n of this.plan.order) if (!this.terminal(n)) this.cancel(n);
    }, CANCEL_GRACE_MS);
  }
}

function plannedNode(n: PlanNode): PlannedNode {
  const p: PlannedNode = { id: n.id, label: n.label, task: n.taskName, deps: [...n.depIds] };
  if (n.spec.group !== undefined) p.group = n.spec.group;
  return p;
}
