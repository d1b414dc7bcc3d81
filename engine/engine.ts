// The engine: plans a graph of nodes, computes keys in dependency order (a node's key uses its
// dependencies' output digests, so early cutoff falls out), serves cache hits, runs the rest in parallel
// under a concurrency limit and named resource locks, commits outputs atomically, and explains itself.

import { createHmac, randomBytes } from "node:crypto";
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { mkdir, rename } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { alg, Graph } from "@dagrejs/graphlib";
import xxhash, { type XXHashAPI } from "xxhash-wasm";
import type {
  DeclaredInputs,
  DepOutput,
  Engine,
  EngineEvent,
  EngineOptions,
  GcResult,
  InputChange,
  Json,
  NodeExplanation,
  NodeId,
  NodeSpec,
  PathInput,
  RunOptions,
  RunRecord,
  RunSummary,
  TaskContext,
  TaskFailure,
} from "./api.js";
import { canonical, digestOf, sha256, toJson } from "./encoding.js";
import { NodeLog, runCommand, TaskCommandError } from "./exec.js";
import { CauseFinder, diffSignatures, type PartialSignature } from "./explain.js";
import { Fingerprinter } from "./fingerprint.js";
import { removeTree } from "./fsutil.js";
import { Coordinator } from "./locks.js";
import { isAlive, makeOwner, processStartTime, retireOwner } from "./proc.js";
import {
  HISTORY_KEYS,
  HISTORY_RUNS,
  type HistoryRecord,
  type LastRecord,
  type OutputRecord,
  type PathSig,
  type SignatureRecord,
  Store,
} from "./store.js";

/** Bumped when the key material's layout changes: old keys then simply miss. */
export const KEY_FORMAT = 2;
/** Cache hits refresh the LRU time only when it is older than this (saves writes on no-op builds). */
const LRU_REFRESH_MS = 10 * 60 * 1000;
/** After cancellation, how long running tasks get to notice their signal before run() stops waiting. */
const CANCEL_GRACE_MS = 5000;

type State = "pending" | "keying" | "queued" | "running" | "cached" | "done" | "failed" | "skipped";

interface PlanNode {
  spec: NodeSpec;
  id: NodeId;
  label: string;
  taskName: string;
  inputs?: DeclaredInputs;
  problem?: string;
  /** label -> dep id */
  deps: [string, NodeId][];
  depIds: NodeId[];
  dependants: NodeId[];
  priority: number;
  state: State;
  partial?: PartialSignature;
  key?: string;
  output?: DepOutput;
  /** Speculative keying done while the stat scan runs (see speculate()). */
  guess?: Guess;
}

interface Guess {
  partial: PartialSignature;
  key: string;
  out: (DepOutput & { durationMs: number }) | undefined;
  last: LastRecord | undefined;
}

class Plan {
  nodes = new Map<NodeId, PlanNode>();
  order: PlanNode[] = [];
}

/** Reason a node will run, beyond its changes (NodeExplanation.reason). */
export type RunReason = NonNullable<NodeExplanation["reason"]>;

/** Kept for compatibility: the explanation fields are all in NodeExplanation now. */
export type EngineExplanation = NodeExplanation;

function now(): number {
  return Date.now();
}

function isSecret(input: PathInput | string | null): input is PathInput & { secret: true } {
  return typeof input === "object" && input !== null && input.secret === true;
}

/** Path labels name inputs in explanations and signatures: each appears once. */
function checkPathLabels(inputs: DeclaredInputs): void {
  const seen = new Set<string>();
  for (const [label] of inputs.paths ?? []) {
    if (seen.has(label)) throw new Error(`path label "${label}" is declared twice`);
    seen.add(label);
  }
}

/** The cache's secret key: created once, readable only by its owner. */
function cacheSecretKey(cacheDir: string): Buffer {
  const file = join(cacheDir, "secret.key");
  if (!existsSync(file)) {
    // Written aside, then linked into place: a concurrent reader never sees a partial key.
    const tmp = `${file}.${process.pid}-${randomBytes(4).toString("hex")}`;
    writeFileSync(tmp, randomBytes(32), { mode: 0o600 });
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    } finally {
      unlinkSync(tmp);
    }
  }
  const key = readFileSync(file);
  if (key.length < 32) throw new Error(`${file}: secret key is too short (remove it to make a new one)`);
  return key;
}

function safeName(id: string): string {
  return `${id.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 80)}-${sha256(id).slice(0, 8)}`;
}

/** Knobs outside the public contract (tests, benchmarks). */
export interface EngineTuning {
  /** Files changed less than this long ago are not trusted to the stat cache (default 2000 ms). */
  racyWindowMs?: number;
  /** Cache hits refresh an entry's LRU time only when it is older than this (default 10 minutes). */
  lruRefreshMs?: number;
}

export class EngineImpl implements Engine {
  readonly store: Store;
  readonly fp: Fingerprinter;
  readonly coord: Coordinator;
  readonly concurrency: number;
  readonly maxBytes: number | undefined;
  readonly lruRefreshMs: number;
  readonly artifactsDir: string;
  readonly tmpDir: string;
  readonly logsDir: string;
  private ownerTag: string;
  private closed = false;
  /** Keys used by runs in progress in this process: never evicted under them. */
  private protectedKeys = new Map<string, number>();
  private totalBytes: number | undefined;
  private background: Promise<unknown>[] = [];
  private producing = new Map<string, Promise<DepOutput | undefined>>();

  private readonly keepFailedWorkspaces: boolean;
  private readonly secretKey: Buffer;

  constructor(
    readonly cacheDir: string,
    xx: XXHashAPI,
    options: EngineOptions & EngineTuning,
  ) {
    for (const d of ["index", "artifacts", "tmp", "logs"]) mkdirSync(join(cacheDir, d), { recursive: true });
    this.store = new Store(join(cacheDir, "index"));
    this.fp = new Fingerprinter(this.store, xx, options.racyWindowMs);
    const token = randomBytes(8).toString("hex");
    this.coord = new Coordinator(this.store, makeOwner(token));
    this.ownerTag = `${process.pid}-${this.coord.owner.start}`;
    this.concurrency = Math.max(1, options.concurrency ?? availableParallelism());
    this.maxBytes = options.maxBytes;
    this.keepFailedWorkspaces = options.keepFailedWorkspaces ?? false;
    this.secretKey = options.secretKey ?? cacheSecretKey(cacheDir);
    this.lruRefreshMs = options.lruRefreshMs ?? LRU_REFRESH_MS;
    this.artifactsDir = join(cacheDir, "artifacts");
    this.tmpDir = join(cacheDir, "tmp");
    this.logsDir = join(cacheDir, "logs");
  }

  logFileOf(id: NodeId): string {
    return join(this.logsDir, `${safeName(id)}.log`);
  }

  artifactPath(key: string): string {
    return join(this.artifactsDir, key);
  }

  // -------------------------------------------------------------------------------------------
  // Planning

  private plan(specs: NodeSpec[], targets?: NodeId[]): { plan: Plan; graph: Graph } {
    const g = new Graph({ directed: true });
    const byId = new Map<NodeId, NodeSpec>();
    for (const s of specs) {
      if (byId.has(s.id)) throw new Error(`duplicate node id "${s.id}" in plan`);
      byId.set(s.id, s);
      g.setNode(s.id);
    }
    const pnodes = new Map<NodeId, PlanNode>();
    for (const s of specs) {
      const n: PlanNode = {
        spec: s,
        id: s.id,
        label: s.label ?? s.task.name,
        taskName: s.task.name,
        deps: [],
        depIds: [],
        dependants: [],
        priority: 0,
        state: "pending",
      };
      try {
        n.inputs = s.task.inputs(s.params);
        checkPathLabels(n.inputs);
      } catch (e) {
        n.problem = `declaring inputs failed: ${(e as Error).message}`;
      }
      for (const [label, dep] of Object.entries(n.inputs?.deps ?? {})) {
        n.deps.push([label, dep]);
        if (!byId.has(dep)) {
          n.problem ??= `dependency "${dep}" (${label}) is not part of the plan`;
          continue;
        }
        if (!n.depIds.includes(dep)) n.depIds.push(dep);
        g.setEdge(dep, s.id);
      }
      pnodes.set(s.id, n);
    }
    let order: string[];
    try {
      order = alg.topsort(g);
    } catch {
      const cycles = alg.findCycles(g);
      throw new Error(`the plan has a dependency cycle: ${cycles.map((c) => c.join(" -> ")).join("; ")}`);
    }
    let keep: Set<NodeId> | undefined;
    if (targets) {
      keep = new Set();
      const stack = [...targets];
      for (const t of targets) if (!byId.has(t)) throw new Error(`target "${t}" is not part of the plan`);
      while (stack.length > 0) {
        const id = stack.pop()!;
        if (keep.has(id)) continue;
        keep.add(id);
        for (const p of g.predecessors(id) ?? []) stack.push(p);
      }
    }
    const plan = new Plan();
    for (const id of order) {
      if (keep && !keep.has(id)) continue;
      const n = pnodes.get(id)!;
      plan.nodes.set(id, n);
      plan.order.push(n);
    }
    for (const n of plan.order) for (const d of n.depIds) plan.nodes.get(d)?.dependants.push(n.id);
    // Critical path (in nodes) to a sink: longer chains start first.
    for (let i = plan.order.length - 1; i >= 0; i--) {
      const n = plan.order[i]!;
      let p = 0;
      for (const d of n.dependants) p = Math.max(p, plan.nodes.get(d)!.priority);
      n.priority = p + 1;
    }
    return { plan, graph: g };
  }

  /** Start fingerprinting every declared path of the plan at once (one stat walk for all trees). */
  private prefetchPaths(plan: Plan): Promise<void> {
    const all: (PathInput | string | null)[] = [];
    for (const n of plan.order) for (const [, p] of n.inputs?.paths ?? []) if (!isSecret(p)) all.push(p);
    return this.fp.prefetch(all).catch(() => undefined); // errors surface where a node awaits its path
  }

  /** Signature of a node's own inputs; dependencies filled from resolved outputs (others pending). */
  /** The signature, synchronously when every declared path is fingerprinted already (the common case after the
   * plan-wide prefetch: no promise per node). */
  private signature(n: PlanNode, plan: Plan): PartialSignature | Promise<PartialSignature> {
    const declared = n.inputs!.paths ?? [];
    const known: PathSig[] = [];
    for (const [, input] of declared) {
      const v = isSecret(input) ? undefined : this.fp.peek(input);
      if (!v) break;
      known.push(v);
    }
    if (known.length === declared.length) return this.buildSignature(n, plan, known);
    return Promise.all(declared.map(([, input]) => this.pathSig(input))).then((fps) =>
      this.buildSignature(n, plan, fps),
    );
  }

  /** Fingerprint of one declared path; a secret one is read afresh (never through the stat cache) and
   * only a keyed digest of it is kept. */
  private async pathSig(input: PathInput | string | null): Promise<PathSig> {
    if (!isSecret(input)) return this.fp.path(input);
    const tree = await this.fp.tree(input.path, input.exclude ?? [], { cache: false, storeManifests: false });
    return { path: input.path, fp: `S ${this.keyed(tree.fp)}` };
  }

  /** While the stat scan runs in other processes, key every node assuming its declared paths are unchanged
   * (their last recorded fingerprints) and look its output up. Pure reads, no decisions: keying proper takes
   * a guess only when the real fingerprints and dependency outputs turn out equal to the guessed ones. */
  private speculate(plan: Plan): void {
    for (const n of plan.order) {
      if (n.problem || !n.inputs) continue;
      const declared = n.inputs.paths ?? [];
      const fps: PathSig[] = [];
      for (const [, input] of declared) {
        const v = isSecret(input) ? undefined : this.fp.speculate(input);
        if (!v) break;
        fps.push(v);
      }
      if (fps.length !== declared.length) continue;
      if (!n.deps.every(([, dep]) => plan.nodes.get(dep)?.guess?.out)) continue;
      try {
        const partial = this.buildSignature(n, plan, fps, (dep) => plan.nodes.get(dep)?.guess?.out);
        const key = this.keyOf(partial.sig);
        const out = n.spec.task.cache === "always" ? undefined : this.cachedOutput(n.id, key);
        n.guess = { partial, key, out, last: this.store.getLast(n.id) };
      } catch {
        /* keying proper reports it */
      }
    }
  }

  /** The guess, if the node's real inputs are those it assumed. */
  private confirmGuess(n: PlanNode, plan: Plan): Guess | undefined {
    const g = n.guess;
    if (!g) return undefined;
    for (const [l, input] of n.inputs!.paths ?? []) {
      const v = this.fp.peek(input);
      if (!v || v.fp !== g.partial.sig.paths[l]?.fp || v.path !== g.partial.sig.paths[l]?.path)
        return undefined;
    }
    for (const [label, dep] of n.deps) {
      const o = plan.nodes.get(dep)?.output;
      const d = g.partial.sig.deps[label];
      if (!o || !d || o.digest !== d.digest || o.key !== d.key) return undefined;
    }
    return g;
  }

  private buildSignature(
    n: PlanNode,
    plan: Plan,
    fps: PathSig[],
    outputOf: (dep: NodeId) => DepOutput | undefined = (dep) => plan.nodes.get(dep)?.output,
  ): PartialSignature {
    const inputs = n.inputs!;
    const values: Record<string, Json> = {};
    for (const [k, v] of Object.entries(inputs.values ?? {})) {
      if (v !== undefined) values[k] = v; // validated by the key's canonical encoding
    }
    const secrets: Record<string, string> = {};
    for (const [k, v] of Object.entries(inputs.secrets ?? {})) {
      if (v !== undefined) secrets[k] = this.keyed(canonical(v));
    }
    const sig: SignatureRecord = {
      task: n.taskName,
      implementation: n.spec.task.implementation,
      values,
      secrets,
      paths: {},
      pathOrder: [],
      env: {},
      deps: {},
    };
    (inputs.paths ?? []).forEach(([label], i) => {
      sig.paths[label] = fps[i]!;
      sig.pathOrder.push(label);
    });
    for (const [k, v] of Object.entries(inputs.env ?? {})) if (v !== undefined) sig.env[k] = String(v);
    const pending: Record<string, NodeId> = {};
    for (const [label, dep] of n.deps) {
      const o = outputOf(dep);
      if (o) sig.deps[label] = { id: dep, key: o.key, digest: o.digest };
      else pending[label] = dep;
    }
    return { sig, pending };
  }

  private keyOf(sig: SignatureRecord): string {
    const deps: Record<string, string> = {};
    for (const [k, d] of Object.entries(sig.deps)) deps[k] = d.digest;
    return digestOf({
      format: KEY_FORMAT,
      task: sig.task,
      implementation: sig.implementation,
      values: sig.values,
      secrets: sig.secrets,
      // An ordered list: reordering trees that overlap changes which file wins.
      paths: sig.pathOrder.map((label) => [label, sig.paths[label]!.fp]),
      env: sig.env,
      deps,
    });
  }

  /** Keyed digest of a secret (HMAC-SHA256 with the cache's secret key). */
  private keyed(data: string): string {
    return createHmac("sha256", this.secretKey).update(data).digest("hex");
  }

  /** Names in artifacts/ as listed once per plan (one readdir instead of a stat per node). */
  private listing: Set<string> | undefined;

  /** The committed output of a key, if it is usable. */
  private cachedOutput(id: NodeId, key: string): (DepOutput & { durationMs: number }) | undefined {
    const rec = this.store.getOutput(key);
    if (!rec) return undefined;
    const dir = this.artifactPath(key);
    this.listing ??= new Set(readdirSync(this.artifactsDir));
    if (!this.listing.has(key) && !existsSync(dir)) return undefined;
    return { id, key, digest: rec.digest, dir, meta: rec.meta, durationMs: rec.durationMs };
  }

  private explanation(
    n: PlanNode,
    causes: CauseFinder,
    status: NodeExplanation["status"],
    last: LastRecord | undefined,
    reason: RunReason | undefined,
    upstream: NodeId[],
  ): EngineExplanation {
    const hist = this.store.getHistory(n.id);
    const lastRunRec = hist?.runs[hist.runs.length - 1];
    const lastKey = last?.key;
    const needsOld =
      lastKey !== undefined && (lastKey !== n.key || status === "will-run" || status === "pending-deps");
    const oldSig = needsOld ? this.store.getSignature(lastKey) : undefined;
    let changes: InputChange[] = [];
    if (oldSig && n.partial && lastKey !== n.key) changes = diffSignatures(this.store, oldSig, n.partial);
    const firstRun = last === undefined;
    const e: EngineExplanation = {
      id: n.id,
      label: n.label,
      task: n.taskName,
      status,
      changes,
      firstRun,
      upstream,
      rootCauses: [],
    };
    if (n.spec.group !== undefined) e.group = n.spec.group;
    if (n.key) e.key = n.key;
    if (lastRunRec) e.lastRun = lastRunRec;
    if (reason) e.reason = reason;
    if (n.problem) e.problem = n.problem;
    if (status === "will-run" || status === "pending-deps") {
      if (reason === "first-run" || reason === "not-in-cache" || reason === "always" || reason === "forced") {
        e.rootCauses = [{ chain: [n.id], changes: [] }];
      } else {
        e.rootCauses = causes.causes(n.id, oldSig, lastKey);
      }
    }
    return e;
  }

  // -------------------------------------------------------------------------------------------
  // Explain

  async explain(specs: NodeSpec[]): Promise<NodeExplanation[]> {
    this.assertOpen();
    this.fp.reset();
    this.listing = undefined;
    const { plan } = this.plan(specs);
    const scanned = this.prefetchPaths(plan);
    this.speculate(plan); // while the stat scan runs
    await scanned; // then every signature below is built synchronously
    const causes = new CauseFinder(this.store, (id) => plan.nodes.get(id)?.partial);
    const result = new Map<NodeId, EngineExplanation>();
    const stat = new Map<NodeId, NodeExplanation["status"]>();
    for (const n of plan.order) {
      const guess = this.confirmGuess(n, plan);
      const hist = guess ? guess.last : this.store.getLast(n.id);
      if (n.problem) {
        stat.set(n.id, "missing-input");
        result.set(n.id, this.explanation(n, causes, "missing-input", hist, undefined, []));
        continue;
      }
      try {
        if (guess) {
          n.partial = guess.partial;
          n.key = guess.key;
        } else {
          n.partial = await this.signature(n, plan);
          if (Object.keys(n.partial.pending).length === 0) n.key = this.keyOf(n.partial.sig);
          else this.keyOf({ ...n.partial.sig, deps: {} }); // validates the values
        }
      } catch (err) {
        n.problem = (err as Error).message;
        stat.set(n.id, "missing-input");
        result.set(n.id, this.explanation(n, causes, "missing-input", hist, undefined, []));
        continue;
      }
      const upstream = n.depIds.filter((d) => stat.get(d) !== "cached");
      if (upstream.some((d) => stat.get(d) === "missing-input")) {
        n.problem = `dependency ${upstream.find((d) => stat.get(d) === "missing-input")} has a missing input`;
        stat.set(n.id, "missing-input");
        result.set(n.id, this.explanation(n, causes, "missing-input", hist, undefined, upstream));
        continue;
      }
      if (upstream.length > 0) {
        stat.set(n.id, "pending-deps");
        const reason: RunReason | undefined = hist === undefined ? "first-run" : undefined;
        result.set(n.id, this.explanation(n, causes, "pending-deps", hist, reason, upstream));
        continue;
      }
      n.key ??= this.keyOf(n.partial.sig);
      const out =
        n.spec.task.cache === "always" ? undefined : guess ? guess.out : this.cachedOutput(n.id, n.key);
      if (out) {
        n.output = { id: out.id, key: out.key, digest: out.digest, dir: out.dir, meta: out.meta };
        stat.set(n.id, "cached");
        result.set(n.id, this.explanation(n, causes, "cached", hist, undefined, []));
      } else {
        stat.set(n.id, "will-run");
        const reason = this.reasonFor(n, hist, false);
        result.set(n.id, this.explanation(n, causes, "will-run", hist, reason, []));
      }
    }
    await this.fp.flush();
    return specs.map((s) => result.get(s.id)!).filter((e) => e !== undefined);
  }

  private reasonFor(n: PlanNode, last: LastRecord | undefined, forced: boolean): RunReason {
    if (forced) return "forced";
    if (n.spec.task.cache === "always") return "always";
    if (last === undefined) return "first-run";
    if (last.key === n.key) return "not-in-cache";
    return "inputs-changed";
  }

  // -------------------------------------------------------------------------------------------
  // Run

  async run(specs: NodeSpec[], options: RunOptions = {}): Promise<RunSummary> {
    this.assertOpen();
    this.fp.reset();
    this.listing = undefined;
    const { plan } = this.plan(specs, options.targets);
    void this.prefetchPaths(plan);
    this.speculate(plan);
    const outer = options.signal;
    const abort = new AbortController();
    const onOuterAbort = () => abort.abort(outer?.reason);
    if (outer?.aborted) abort.abort(outer.reason);
    else outer?.addEventListener("abort", onOuterAbort, { once: true });
    const signal = abort.signal;
    const forced = new Set(options.forceRun ?? []);
    let listenerError: unknown;
    const emit = (e: EngineEvent) => {
      if (!options.onEvent) return;
      try {
        options.onEvent(e);
      } catch (err) {
        listenerError ??= err;
      }
    };
    const summary: RunSummary = { ok: true, outputs: {}, failures: {}, ran: [], cached: [], skipped: [] };
    let savedMs = 0;
    const causes = new CauseFinder(this.store, (id) => plan.nodes.get(id)?.partial);
    /** Keys being produced by this engine (this and concurrent runs): identical nodes run once. */
    const producing = this.producing;
    const produced = new Map<PlanNode, (o: DepOutput | undefined) => void>();
    const histWrites: Promise<unknown>[] = [];
    const usedKeys: string[] = [];
    const protect = (key: string) => {
      usedKeys.push(key);
      this.protectedKeys.set(key, (this.protectedKeys.get(key) ?? 0) + 1);
    };

    emit({
      type: "planned",
      time: now(),
      nodes: plan.order.map((n) => {
        const p = { id: n.id, label: n.label, task: n.taskName, deps: [...n.depIds] } as {
          id: NodeId;
          group?: string;
          label: string;
          task: string;
          deps: NodeId[];
        };
        if (n.spec.group !== undefined) p.group = n.spec.group;
        return p;
      }),
    });

    let remaining = plan.order.length;
    let active = 0;
    const queue: PlanNode[] = [];
    let finish!: () => void;
    const allDone = new Promise<void>((res) => {
      finish = res;
    });

    const terminal = (n: PlanNode) =>
      n.state === "cached" || n.state === "done" || n.state === "failed" || n.state === "skipped";
    const settle = (n: PlanNode, state: "cached" | "done" | "failed" | "skipped") => {
      if (terminal(n)) return;
      n.state = state;
      remaining--;
      if (state === "cached" || state === "done") {
        summary.outputs[n.id] = n.output!;
        for (const d of n.dependants) {
          const dn = plan.nodes.get(d)!;
          if (dn.state === "pending" && dn.depIds.every((x) => plan.nodes.get(x)!.output)) key(dn);
        }
      } else if (state === "failed") {
        skipDependants(n, n.id);
      }
      if (remaining === 0) finish();
      else pump();
    };

    const skipDependants = (n: PlanNode, cause: NodeId) => {
      for (const d of n.dependants) {
        const dn = plan.nodes.get(d)!;
        if (dn.state !== "pending") continue;
        dn.state = "skipped";
        summary.skipped.push(dn.id);
        emit({ type: "skipped", time: now(), id: dn.id, reason: "dependency-failed", cause });
        remaining--;
        skipDependants(dn, cause);
      }
    };

    const fail = (n: PlanNode, failure: TaskFailure) => {
      if (terminal(n)) return;
      summary.ok = false;
      summary.failures[n.id] = failure;
      emit({ type: "failed", time: now(), id: n.id, error: failure });
      settle(n, "failed");
    };

    const cancel = (n: PlanNode) => {
      if (terminal(n)) return;
      produced.get(n)?.(undefined);
      summary.ok = false;
      summary.skipped.push(n.id);
      emit({ type: "skipped", time: now(), id: n.id, reason: "cancelled" });
      settle(n, "skipped");
    };

    const markCached = (
      n: PlanNode,
      out: DepOutput & { durationMs?: number },
      last: LastRecord | undefined,
    ) => {
      const saved = out.durationMs ?? this.store.getOutput(out.key)?.durationMs ?? 0;
      n.output = { id: n.id, key: out.key, digest: out.digest, dir: out.dir, meta: out.meta };
      protect(out.key);
      savedMs += saved;
      summary.cached.push(n.id);
      const t = now();
      const sameAsLast = last?.key === out.key && last.digest === out.digest;
      // The identity's last-use record says when this key was last used through it: most no-op builds
      // write nothing at all.
      if (!sameAsLast || last.used === undefined || t - last.used > this.lruRefreshMs) {
        histWrites.push(this.store.lru.put(out.key, t));
        histWrites.push(this.recordUse(n.id, out, sameAsLast, t));
      }
      emit({ type: "cached", time: now(), id: n.id, key: out.key, digest: out.digest, savedMs: saved });
      settle(n, "cached");
    };

    const key = (n: PlanNode) => {
      n.state = "keying";
      if (signal.aborted) return cancel(n);
      const logFile = () => this.logFileOf(n.id);
      if (n.problem) return fail(n, { message: n.problem, logTail: [], logFile: logFile() });
      const failInputs = (err: unknown) =>
        fail(n, {
          message: `cannot compute inputs: ${(err as Error).message}`,
          logTail: [],
          logFile: logFile(),
        });
      const g = this.confirmGuess(n, plan);
      if (g) return keyed(n, g.partial, g);
      let sig: PartialSignature | Promise<PartialSignature>;
      try {
        sig = this.signature(n, plan);
      } catch (err) {
        return failInputs(err);
      }
      if (sig instanceof Promise) {
        sig.then(
          (s) => {
            if (!terminal(n)) keyed(n, s);
          },
          (err) => failInputs(err),
        );
      } else {
        keyed(n, sig);
      }
    };

    const keyed = async (n: PlanNode, sig: PartialSignature, guess?: Guess) => {
      if (signal.aborted) return cancel(n);
      const logFile = () => this.logFileOf(n.id);
      try {
        n.partial = sig;
        n.key = guess ? guess.key : this.keyOf(sig.sig);
      } catch (err) {
        return fail(n, {
          message: `cannot compute inputs: ${(err as Error).message}`,
          logTail: [],
          logFile: logFile(),
        });
      }
      const hist = guess ? guess.last : this.store.getLast(n.id);
      const isForced = forced.has(n.id);
      const always = n.spec.task.cache === "always";
      if (!isForced && !always) {
        const out = guess ? guess.out : this.cachedOutput(n.id, n.key);
        if (out) return markCached(n, out, hist);
        const inProgress = producing.get(n.key);
        if (inProgress) {
          const o = await inProgress;
          if (o) return markCached(n, { ...o, id: n.id }, hist);
          // The identical node failed: this one would fail the same way.
        }
      }
      const reason = this.reasonFor(n, hist, isForced);
      const expl = this.explanation(n, causes, "will-run", hist, reason, []);
      if (options.forbidRun) {
        const why = options.forbidRun(expl);
        if (why !== undefined) return fail(n, { message: why, logTail: [], logFile: logFile() });
      }
      let resolveP!: (o: DepOutput | undefined) => void;
      const p = new Promise<DepOutput | undefined>((r) => {
        resolveP = r;
      });
      if (!producing.has(n.key)) {
        const k = n.key;
        producing.set(k, p);
        void p.then(() => {
          if (producing.get(k) === p) producing.delete(k);
        });
      }
      produced.set(n, resolveP);
      n.state = "queued";
      queue.push(n);
      (n as PlanNode & { expl?: EngineExplanation }).expl = expl;
      pump();
    };

    const pump = () => {
      while (active < this.concurrency && queue.length > 0) {
        if (signal.aborted) {
          for (const n of queue.splice(0)) cancel(n);
          return;
        }
        let best = 0;
        for (let i = 1; i < queue.length; i++) if (queue[i]!.priority > queue[best]!.priority) best = i;
        const n = queue.splice(best, 1)[0]!;
        active++;
        n.state = "running";
        const resolveP = produced.get(n)!;
        void this.execute(n, signal, emit, forced.has(n.id), protect).then(
          (res) => {
            active--;
            resolveP(res.kind === "ok" || res.kind === "cached" ? res.output : undefined);
            if (res.kind === "ok") {
              n.output = res.output;
              summary.ran.push(n.id);
              settle(n, "done");
            } else if (res.kind === "cached") {
              markCached(n, res.output, this.store.getLast(n.id));
            } else if (res.kind === "cancelled") {
              cancel(n);
            } else {
              fail(n, res.failure);
            }
          },
          (err) => {
            active--;
            resolveP(undefined);
            fail(n, { message: String((err as Error)?.stack ?? err), logTail: [], logFile: "" });
          },
        );
      }
    };

    const onAbort = () => {
      // Nodes not started yet are cancelled now; running ones when their task settles.
      for (const n of queue.splice(0)) cancel(n);
      for (const n of plan.order) {
        if (n.state === "pending") {
          n.state = "skipped";
          summary.skipped.push(n.id);
          emit({ type: "skipped", time: now(), id: n.id, reason: "cancelled" });
          remaining--;
        }
      }
      summary.ok = false;
      if (remaining === 0) finish();
      // Tasks that ignore their signal are not waited for forever (their late results are discarded).
      graceTimer = setTimeout(() => {
        for (const n of plan.order) if (!terminal(n)) cancel(n);
      }, CANCEL_GRACE_MS);
    };
    let graceTimer: NodeJS.Timeout | undefined;
    signal.addEventListener("abort", onAbort, { once: true });

    const sweep = this.sweepTmp();
    if (plan.order.length === 0) finish();
    else if (signal.aborted) onAbort();
    else for (const n of plan.order) if (n.depIds.length === 0 && n.state === "pending") key(n);
    await allDone;
    if (graceTimer) clearTimeout(graceTimer);
    signal.removeEventListener("abort", onAbort);
    outer?.removeEventListener("abort", onOuterAbort);
    await Promise.all(histWrites);
    await this.fp.flush();
    await sweep;
    for (const k of usedKeys) {
      const c = (this.protectedKeys.get(k) ?? 1) - 1;
      if (c <= 0) this.protectedKeys.delete(k);
      else this.protectedKeys.set(k, c);
    }
    emit({
      type: "done",
      time: now(),
      ok: summary.ok,
      ran: summary.ran.length,
      cached: summary.cached.length,
      failed: Object.keys(summary.failures).length,
      savedMs,
    });
    if (listenerError) throw listenerError;
    return summary;
  }

  private async recordUse(id: NodeId, out: DepOutput, sameAsLast: boolean, used: number): Promise<void> {
    if (!sameAsLast) {
      const h: HistoryRecord = this.store.getHistory(id) ?? { runs: [], keys: [] };
      if (h.keys[h.keys.length - 1] !== out.key) {
        h.keys = [...h.keys.filter((k) => k !== out.key), out.key].slice(-HISTORY_KEYS);
        await this.store.hist.put(id, h);
      }
    }
    await this.store.last.put(id, { key: out.key, digest: out.digest, used });
  }

  /** Runs one node: locks, in-flight claim, task, output digest, commit. */
  private async execute(
    n: PlanNode,
    signal: AbortSignal,
    emit: (e: EngineEvent) => void,
    isForced: boolean,
    protect: (key: string) => void,
  ): Promise<
    | { kind: "ok"; output: DepOutput }
    | { kind: "cached"; output: DepOutput }
    | { kind: "failed"; failure: TaskFailure }
    | { kind: "cancelled" }
  > {
    const key = n.key!;
    const id = n.id;
    const logFile = this.logFileOf(id);
    const task = n.spec.task;
    let resources: string[] = [];
    try {
      resources = task.resources?.(n.spec.params) ?? [];
    } catch (e) {
      return {
        kind: "failed",
        failure: { message: `resources(): ${(e as Error).message}`, logTail: [], logFile },
      };
    }
    const mayReuse = !isForced && task.cache !== "always";
    // Another process may be producing the same key: wait for it rather than duplicate the work.
    let claimed = false;
    for (;;) {
      if (signal.aborted) return { kind: "cancelled" };
      const c = this.coord.claim(key);
      if (c.kind === "claimed") {
        claimed = true;
        break;
      }
      if (c.kind === "done" && mayReuse) {
        const out = this.cachedOutput(id, key);
        if (out) return { kind: "cached", output: out };
        // A record without its directory: produce it again (the commit replaces the record).
        const c2 = this.forceClaim(key);
        if (c2) {
          claimed = true;
          break;
        }
      } else if (c.kind === "done") {
        if (this.forceClaim(key)) {
          claimed = true;
          break;
        }
      }
      emit({
        type: "waiting",
        time: now(),
        id,
        on: `process ${c.kind === "busy" ? c.owner.pid : "?"} building ${key.slice(0, 12)}`,
      });
      await this.coord.waitInflight(key, signal);
    }
    let locked = false;
    let keepWork = false;
    const work = join(this.tmpDir, `${this.ownerTag}-${randomBytes(6).toString("hex")}`);
    const outDir = join(work, "out");
    const scratch = join(work, "tmp");
    const log = new NodeLog(id, logFile, (line, stream) =>
      emit({ type: "log", time: now(), id, stream, line }),
    );
    const nodeAbort = new AbortController();
    const onAbort = () => nodeAbort.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const started = now();
    try {
      locked = await this.coord.acquire(resources, signal, (on) =>
        emit({ type: "waiting", time: now(), id, on }),
      );
      if (!locked) return { kind: "cancelled" };
      await mkdir(outDir, { recursive: true });
      await mkdir(scratch, { recursive: true });
      const deps: Record<string, DepOutput> = {};
      for (const [label, depId] of n.deps) {
        const d = n.partial!.sig.deps[label]!;
        deps[label] = {
          id: depId,
          key: d.key,
          digest: d.digest,
          dir: this.artifactPath(d.key),
          meta: this.store.getOutput(d.key)?.meta ?? null,
        };
      }
      const ctx: TaskContext = {
        id,
        key,
        out: outDir,
        tmp: scratch,
        deps,
        signal: nodeAbort.signal,
        logFile,
        log: (line, stream) => log.line(line, stream),
        progress: (update) => emit({ type: "progress", time: now(), id, update }),
        exec: (file, args, opts) => runCommand(log, nodeAbort.signal, file, args, opts),
        artifactDir: (k) => {
          if (!this.store.getOutput(k)) throw new Error(`artifact ${k} is not in the cache`);
          protect(k);
          return this.artifactPath(k);
        },
      };
      emit({
        type: "started",
        time: started,
        id,
        key,
        explanation: (n as PlanNode & { expl: EngineExplanation }).expl,
      });
      let result: Awaited<ReturnType<typeof task.run>>;
      try {
        result = await task.run(ctx, n.spec.params);
      } catch (err) {
        if (signal.aborted) return { kind: "cancelled" };
        const failure: TaskFailure = {
          message: (err as Error)?.message ?? String(err),
          logTail: log.tail(),
          logFile,
        };
        if (err instanceof TaskCommandError) {
          failure.command = err.command;
          if (err.exitCode !== undefined) failure.exitCode = err.exitCode;
          failure.logTail = err.logTail;
        }
        if (this.keepFailedWorkspaces) {
          keepWork = true;
          failure.message += ` (workspace kept at ${work})`;
        }
        return { kind: "failed", failure };
      }
      if (signal.aborted) return { kind: "cancelled" };
      // Output digest: the tree, its metadata, and the digests of artifacts it refers to.
      let meta: Json = null;
      let retain: string[] = [];
      try {
        meta = result?.meta === undefined ? null : toJson(result.meta);
        retain = [...new Set(result?.retain ?? [])].sort();
      } catch (err) {
        return {
          kind: "failed",
          failure: {
            message: `invalid task result: ${(err as Error).message}`,
            logTail: log.tail(),
            logFile,
          },
        };
      }
      const retained: Record<string, string> = {};
      for (const k of retain) {
        const r = this.store.getOutput(k);
        if (!r)
          return {
            kind: "failed",
            failure: { message: `retained artifact ${k} is not in the cache`, logTail: log.tail(), logFile },
          };
        retained[k] = r.digest;
      }
      const tree = await this.fp.tree(outDir, [], { cache: false, storeManifests: false });
      const digest = digestOf({ tree: tree.fp, meta, retain: Object.values(retained) });
      if (signal.aborted) return { kind: "cancelled" };
      const durationMs = now() - started;
      const output: DepOutput = { id, key, digest, dir: this.artifactPath(key), meta };
      const prevDigest = this.store.getLast(id)?.digest;
      await log.close();
      await this.commit(n, key, outDir, {
        digest,
        tree: tree.fp,
        meta,
        retain,
        bytes: tree.bytes,
        durationMs,
        createdAt: now(),
        nodeId: id,
        task: n.taskName,
      });
      claimed = false;
      protect(key);
      emit({
        type: "finished",
        time: now(),
        id,
        key,
        digest,
        durationMs,
        bytes: tree.bytes,
        unchangedOutput: prevDigest === digest,
      });
      void this.maybeEvict();
      return { kind: "ok", output };
    } finally {
      signal.removeEventListener("abort", onAbort);
      nodeAbort.abort();
      await log.close();
      if (claimed) this.coord.unclaim(key);
      if (locked) this.coord.release(resources);
      if (!keepWork) await removeTree(work).catch(() => undefined);
    }
  }

  /** Take over a key whose record exists but whose artifact is gone or must be replaced. */
  private forceClaim(key: string): boolean {
    return this.store.write(() => {
      const rec = this.store.getOwner(this.store.inflight, key);
      if (rec && isAlive(rec) && rec.token !== this.coord.owner.token) return false;
      this.store.inflight.putSync(key, this.coord.owner);
      return true;
    });
  }

  /** Rename the output into place, then one LMDB transaction. */
  private async commit(n: PlanNode, key: string, outDir: string, rec: OutputRecord): Promise<void> {
    const dest = this.artifactPath(key);
    const existing = this.store.getOutput(key);
    if (existing && existsSync(dest) && existing.digest === rec.digest) {
      // Same output again (forced or "always" node): keep the committed tree, refresh the records.
    } else {
      if (existing) {
        // Replacing a committed output: first stop trusting it, then move it away.
        this.store.write(() => {
          this.store.out.removeSync(key);
        });
      }
      if (existsSync(dest)) {
        const trash = join(this.tmpDir, `${this.ownerTag}-trash-${randomBytes(6).toString("hex")}`);
        await rename(dest, trash);
        this.background.push(removeTree(trash).catch(() => undefined));
      }
      await rename(outDir, dest);
    }
    const sig = n.partial!.sig;
    const run: RunRecord = {
      key,
      digest: rec.digest,
      durationMs: rec.durationMs,
      bytes: rec.bytes,
      finishedAt: rec.createdAt,
    };
    this.store.write(() => {
      const hist = this.store.getHistory(n.id) ?? { runs: [], keys: [] };
      hist.runs = [...hist.runs, run].slice(-HISTORY_RUNS);
      hist.keys = [...hist.keys.filter((k) => k !== key), key].slice(-HISTORY_KEYS);
      this.store.sig.putSync(key, sig);
      this.store.out.putSync(key, rec);
      this.store.lru.putSync(key, rec.createdAt);
      this.store.hist.putSync(n.id, hist);
      this.store.last.putSync(n.id, { key, digest: rec.digest, used: rec.createdAt });
      this.store.inflight.removeSync(key);
    });
    this.coord.claimCommitted(key);
    if (this.totalBytes !== undefined) this.totalBytes += rec.bytes - (existing?.bytes ?? 0);
  }

  // -------------------------------------------------------------------------------------------
  // History, forget, gc

  history(id: NodeId): RunRecord[] {
    this.assertOpen();
    return this.store.runs(id);
  }

  async forget(ids: NodeId[]): Promise<number> {
    this.assertOpen();
    const keys = new Set<string>();
    for (const id of ids) {
      const h = this.store.getHistory(id);
      if (!h) continue;
      for (const k of h.keys) keys.add(k);
      for (const r of h.runs) keys.add(r.key);
    }
    // Artifacts that refer to a forgotten one (upper layers) go too.
    const retainedBy = new Map<string, string[]>();
    for (const { key, value } of this.store.out.getRange({})) {
      const r = value as OutputRecord;
      for (const k of r.retain ?? []) {
        const l = retainedBy.get(k) ?? [];
        l.push(key as string);
        retainedBy.set(k, l);
      }
    }
    const stack = [...keys];
    while (stack.length > 0) {
      for (const up of retainedBy.get(stack.pop()!) ?? []) {
        if (!keys.has(up)) {
          keys.add(up);
          stack.push(up);
        }
      }
    }
    return (await this.removeEntries([...keys])).removed;
  }

  /** Drop records first (so nothing trusts them), then the directories. */
  private async removeEntries(keys: string[]): Promise<{ removed: number; freed: number }> {
    let removed = 0;
    let freed = 0;
    const present: string[] = [];
    this.store.write(() => {
      for (const k of keys) {
        const r = this.store.getOutput(k);
        if (r) {
          removed++;
          freed += r.bytes;
          present.push(k);
          this.store.out.removeSync(k);
        }
        this.store.lru.removeSync(k);
      }
    });
    for (const k of keys) {
      const dir = this.artifactPath(k);
      if (!existsSync(dir)) continue;
      const trash = join(this.tmpDir, `${this.ownerTag}-trash-${randomBytes(6).toString("hex")}`);
      try {
        await rename(dir, trash);
        await removeTree(trash);
      } catch {
        /* swept later */
      }
    }
    if (this.totalBytes !== undefined) this.totalBytes -= freed;
    return { removed, freed };
  }

  private evicting: Promise<unknown> | undefined;
  private maybeEvict(): Promise<unknown> {
    if (this.maxBytes === undefined) return Promise.resolve();
    if (this.totalBytes === undefined) this.totalBytes = this.scanTotal();
    if (this.totalBytes <= this.maxBytes || this.evicting) return this.evicting ?? Promise.resolve();
    this.evicting = this.evict(this.maxBytes).finally(() => {
      this.evicting = undefined;
    });
    return this.evicting;
  }

  private scanTotal(): number {
    let total = 0;
    for (const { value } of this.store.out.getRange({})) total += (value as OutputRecord).bytes ?? 0;
    return total;
  }

  /** Evict least-recently-used entries until the total is at most `maxBytes`. Entries in use by a run of this
   * process and entries retained by a live entry are kept. */
  private async evict(maxBytes: number): Promise<{ removed: number; freed: number }> {
    const recs = new Map<string, OutputRecord>();
    for (const { key, value } of this.store.out.getRange({})) recs.set(key as string, value as OutputRecord);
    let total = 0;
    for (const r of recs.values()) total += r.bytes;
    this.totalBytes = total;
    const refs = new Map<string, number>();
    for (const r of recs.values()) for (const k of r.retain ?? []) refs.set(k, (refs.get(k) ?? 0) + 1);
    const lastUse = (k: string) => this.store.lastUse(k) ?? recs.get(k)!.createdAt;
    const victims: string[] = [];
    const gone = new Set<string>();
    while (total > maxBytes) {
      let best: string | undefined;
      let bestT = Number.POSITIVE_INFINITY;
      for (const k of recs.keys()) {
        if (gone.has(k) || (refs.get(k) ?? 0) > 0 || this.protectedKeys.has(k)) continue;
        const t = lastUse(k);
        if (t < bestT) {
          bestT = t;
          best = k;
        }
      }
      if (best === undefined) break;
      gone.add(best);
      victims.push(best);
      const r = recs.get(best)!;
      total -= r.bytes;
      for (const k of r.retain ?? []) refs.set(k, (refs.get(k) ?? 1) - 1);
    }
    if (victims.length === 0) return { removed: 0, freed: 0 };
    return await this.removeEntries(victims);
  }

  /** Remove temporary directories left by dead processes. */
  private async sweepTmp(): Promise<void> {
    let names: string[];
    try {
      names = readdirSync(this.tmpDir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = /^(\d+)-(\d+)-/.exec(name);
      if (m && processStartTime(Number(m[1])) === m[2]) continue;
      await removeTree(join(this.tmpDir, name)).catch(() => undefined);
    }
  }

  async gc(options: { maxBytes?: number } = {}): Promise<GcResult> {
    this.assertOpen();
    this.coord.sweepDead();
    await this.sweepTmp();
    let removedEntries = 0;
    let freedBytes = 0;
    // Records whose directory is gone.
    const broken: string[] = [];
    const known = new Set<string>();
    for (const { key } of this.store.out.getRange({})) {
      known.add(key as string);
      if (!existsSync(this.artifactPath(key as string))) broken.push(key as string);
    }
    if (broken.length > 0) removedEntries += (await this.removeEntries(broken)).removed;
    // Directories without a record (a crash between rename and commit), unless being committed right now.
    for (const name of readdirSync(this.artifactsDir)) {
      if (known.has(name)) continue;
      const owner = this.store.getOwner(this.store.inflight, name);
      if (owner && isAlive(owner)) continue;
      const trash = join(this.tmpDir, `${this.ownerTag}-trash-${randomBytes(6).toString("hex")}`);
      try {
        await rename(join(this.artifactsDir, name), trash);
        await removeTree(trash);
      } catch {
        /* next time */
      }
    }
    const bound = options.maxBytes ?? this.maxBytes;
    if (bound !== undefined) {
      const r = await this.evict(bound);
      removedEntries += r.removed;
      freedBytes += r.freed;
    }
    await this.pruneIndex();
    this.totalBytes = this.scanTotal();
    return { removedEntries, freedBytes, remainingBytes: this.totalBytes };
  }

  /** Drop signatures nobody refers to, directory manifests no signature reaches, stale stat records. */
  private async pruneIndex(): Promise<void> {
    const liveSigs = new Set<string>();
    for (const { key } of this.store.out.getRange({})) liveSigs.add(key as string);
    for (const { value } of this.store.hist.getRange({})) {
      const h = value as HistoryRecord;
      for (const k of h.keys ?? []) liveSigs.add(k);
    }
    for (const { value } of this.store.last.getRange({})) {
      const k = (value as { key?: unknown }).key;
      if (typeof k === "string") liveSigs.add(k);
    }
    const deadSigs: string[] = [];
    const liveDirs = new Set<string>();
    const markDir = (digest: string) => {
      if (liveDirs.has(digest)) return;
      liveDirs.add(digest);
      for (const [, fp] of this.store.getDir(digest) ?? [])
        if (fp.startsWith("d ")) markDir(fp.split(" ")[3]!);
    };
    for (const { key, value } of this.store.sig.getRange({})) {
      if (!liveSigs.has(key as string)) {
        deadSigs.push(key as string);
        continue;
      }
      for (const p of Object.values((value as SignatureRecord).paths ?? {}))
        if (p.fp.startsWith("D ")) markDir(p.fp.slice(2));
    }
    const deadDirs: string[] = [];
    for (const { key } of this.store.dir.getRange({}))
      if (!liveDirs.has(key as string)) deadDirs.push(key as string);
    const deadStats: string[] = [];
    for (const { key, value } of this.store.stat.getRange({})) {
      const p = (value as { path?: string }).path;
      if (typeof p !== "string" || !existsSync(p)) deadStats.push(key as string);
    }
    await this.store.env.transaction(() => {
      for (const k of deadSigs) this.store.sig.remove(k);
      for (const k of deadDirs) this.store.dir.remove(k);
      for (const k of deadStats) this.store.stat.remove(k);
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("engine is closed");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.evicting;
    await this.fp.flush();
    await Promise.all(this.background);
    this.coord.releaseAll();
    retireOwner(this.coord.owner);
    await this.store.close();
  }
}

let xxPromise: Promise<XXHashAPI> | undefined;

export async function openEngine(options: EngineOptions & EngineTuning): Promise<EngineImpl> {
  xxPromise ??= xxhash();
  const xx = await xxPromise;
  return new EngineImpl(options.cacheDir, xx, options);
}
