// Running one node: the cross-process claim on its key, resource locks, the task in a fresh work
// directory, the output digest, and the atomic commit (rename, then one LMDB transaction).
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import type {
  CheckResult,
  DepOutput,
  EngineEvent,
  Json,
  NodeExplanation,
  RunRecord,
  TaskContext,
  TaskFailure,
} from "./api.js";
import { fsyncDirectory, syncFileSystem } from "./durable.js";
import { jsonEqual, outputDigest, toJson } from "./encoding.js";
import { NodeLog, runCommand, TaskCommandError } from "./exec.js";
import type { TreeFingerprint } from "./fingerprint.js";
import { removeTree } from "./fsutil.js";
import type { Collector } from "./gc.js";
import type { Keys } from "./keys.js";
import type { PlanNode } from "./plan.js";
import { isAlive } from "./proc.js";
import { artifactPath, type EngineState, logFileOf, now, trashPath } from "./state.js";
import { HISTORY_KEYS, HISTORY_RUNS, type OutputRecord } from "./store.js";
import { diffTrees } from "./tree-diff.js";

/** A task's fresh output, not committed yet. */
interface Produced {
  kind: "produced";
  /** Work directory to remove once the output is committed or compared. */
  work: string;
  outDir: string;
  digest: string;
  tree: TreeFingerprint;
  meta: Json;
  retain: string[];
  durationMs: number;
}

export type Execution =
  | { kind: "ok"; output: DepOutput }
  | { kind: "cached"; output: DepOutput }
  | { kind: "failed"; failure: TaskFailure }
  | { kind: "cancelled" };

export class Executor {
  constructor(
    private readonly state: EngineState,
    private readonly keys: Keys,
    private readonly collector: Collector,
    private readonly keepFailedWorkspaces: boolean,
    /** Flush commits to disk in a safe order (off only for benchmarks that measure its cost). */
    private readonly durable = true,
  ) {}

  /** Runs one node: locks, in-flight claim, task, output digest, commit. */
  async execute(
    n: PlanNode,
    signal: AbortSignal,
    emit: (e: EngineEvent) => void,
    isForced: boolean,
    protect: (key: string) => void,
  ): Promise<Execution> {
    const key = n.key!;
    const id = n.id;
    const logFile = logFileOf(this.state, id);
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
      const c = this.state.coord.claim(key);
      if (c.kind === "claimed") {
        claimed = true;
        break;
      }
      if (c.kind === "done" && mayReuse) {
        const out = this.keys.cachedOutput(id, key);
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
      await this.state.coord.waitInflight(key, signal);
    }
    let locked = false;
    try {
      locked = await this.state.coord.acquire(resources, signal, (on) =>
        emit({ type: "waiting", time: now(), id, on }),
      );
      if (!locked) return { kind: "cancelled" };
      const produced = await this.produce(n, signal, emit, protect, logFile);
      if (produced.kind !== "produced") return produced;
      try {
        const { digest, tree, meta, retain, durationMs } = produced;
        const output: DepOutput = { id, key, digest, dir: artifactPath(this.state, key), meta };
        const prevDigest = this.state.store.getLast(id)?.digest;
        await this.commit(n, key, produced.outDir, {
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
        void this.collector.maybeEvict();
        return { kind: "ok", output };
      } finally {
        await removeTree(produced.work).catch(() => undefined);
      }
    } finally {
      if (claimed) this.state.coord.unclaim(key);
      if (locked) this.state.coord.release(resources);
    }
  }

  /**
   * Run the node's task into a fresh work directory and compute its output digest: the tree, its
   * metadata, and the digests of the artifacts it refers to. The caller owns `work` (the produced tree is
   * `outDir` inside it) and removes it.
   */
  private async produce(
    n: PlanNode,
    signal: AbortSignal,
    emit: (e: EngineEvent) => void,
    protect: (key: string) => void,
    logFile: string,
    started: "started" | "checking" = "started",
  ): Promise<Produced | { kind: "failed"; failure: TaskFailure } | { kind: "cancelled" }> {
    const key = n.key!;
    const id = n.id;
    const task = n.spec.task;
    let keepWork = false;
    let handedOver = false;
    const work = join(this.state.tmpDir, `${this.state.ownerTag}-${randomBytes(6).toString("hex")}`);
    const outDir = join(work, "out");
    const scratch = join(work, "tmp");
    const log = new NodeLog(id, logFile, (line, stream) =>
      emit({ type: "log", time: now(), id, stream, line }),
    );
    const nodeAbort = new AbortController();
    const onAbort = () => nodeAbort.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const startedAt = now();
    try {
      await mkdir(outDir, { recursive: true });
      await mkdir(scratch, { recursive: true });
      const deps: Record<string, DepOutput> = {};
      for (const [label, depId] of n.deps) {
        const d = n.partial!.sig.deps[label]!;
        deps[label] = {
          id: depId,
          key: d.key,
          digest: d.digest,
          dir: artifactPath(this.state, d.key),
          meta: this.state.store.getOutput(d.key)?.meta ?? null,
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
          if (!this.state.store.getOutput(k)) throw new Error(`artifact ${k} is not in the cache`);
          protect(k);
          return artifactPath(this.state, k);
        },
        retained: (k) => {
          const output = this.state.store.getOutput(k);
          if (!output) throw new Error(`artifact ${k} is not in the cache`);
          return output.retain;
        },
        keyedDigest: (data) => this.keys.keyed(data),
      };
      if (started === "started")
        emit({
          type: "started",
          time: startedAt,
          id,
          key,
          explanation: (n as PlanNode & { expl: NodeExplanation }).expl,
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
          failure.message = err.summary;
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
      const retained = new Map<string, string>();
      for (const k of retain) {
        const r = this.state.store.getOutput(k);
        if (!r)
          return {
            kind: "failed",
            failure: { message: `retained artifact ${k} is not in the cache`, logTail: log.tail(), logFile },
          };
        retained.set(k, r.digest);
      }
      const tree = await this.state.fp.tree(outDir, [], {
        cache: false,
        storeManifests: started === "checking",
      });
      const digest = outputDigest(tree.fp, meta, retained);
      if (signal.aborted) return { kind: "cancelled" };
      handedOver = true;
      return { kind: "produced", work, outDir, digest, tree, meta, retain, durationMs: now() - startedAt };
    } finally {
      signal.removeEventListener("abort", onAbort);
      nodeAbort.abort();
      await log.close();
      if (!handedOver && !keepWork) await removeTree(work).catch(() => undefined);
    }
  }

  /**
   * `--check`: run a cached node again (its dependencies' committed outputs as inputs, nothing committed)
   * and compare the fresh output with the cached one. A difference means the task is not deterministic or
   * reads something its key does not cover.
   */
  async recheck(
    n: PlanNode,
    signal: AbortSignal,
    emit: (e: EngineEvent) => void,
    protect: (key: string) => void,
  ): Promise<CheckResult> {
    const id = n.id;
    const cached = this.state.store.getOutput(n.key!);
    if (!cached) return { id, status: "failed", message: "the cached output disappeared" };
    let resources: string[] = [];
    try {
      resources = n.spec.task.resources?.(n.spec.params) ?? [];
    } catch (e) {
      return { id, status: "failed", message: `resources(): ${(e as Error).message}` };
    }
    const locked = await this.state.coord.acquire(resources, signal, (on) =>
      emit({ type: "waiting", time: now(), id, on }),
    );
    if (!locked) return { id, status: "failed", message: "cancelled" };
    try {
      const produced = await this.produce(
        n,
        signal,
        emit,
        protect,
        `${logFileOf(this.state, id)}.check`,
        "checking",
      );
      if (produced.kind === "cancelled") return { id, status: "failed", message: "cancelled" };
      if (produced.kind === "failed") return { id, status: "failed", message: produced.failure.message };
      try {
        if (produced.digest === cached.digest) return { id, status: "same", digest: cached.digest };
        // Which files differ: fingerprint the cached tree with its directory manifests, then diff.
        const before = await this.state.fp.tree(artifactPath(this.state, n.key!), [], {
          cache: false,
          storeManifests: true,
        });
        await this.state.fp.flush();
        const files = diffTrees(this.state.store, before.fp, produced.tree.fp);
        const result: CheckResult = {
          id,
          status: "differs",
          cachedDigest: cached.digest,
          freshDigest: produced.digest,
          metaChanged: !jsonEqual(cached.meta, produced.meta),
        };
        if (files) result.files = files;
        return result;
      } finally {
        await removeTree(produced.work).catch(() => undefined);
      }
    } finally {
      this.state.coord.release(resources);
    }
  }

  /** Take over a key whose record exists but whose artifact is gone or must be replaced. */
  private forceClaim(key: string): boolean {
    return this.state.store.write(() => {
      const rec = this.state.store.getOwner(this.state.store.inflight, key);
      if (rec && isAlive(rec) && rec.token !== this.state.coord.owner.token) return false;
      this.state.store.inflight.putSync(key, this.state.coord.owner);
      return true;
    });
  }

  /** Flush the output's files, rename it into place, then one durable LMDB transaction (durable.ts). */
  private async commit(n: PlanNode, key: string, outDir: string, rec: OutputRecord): Promise<void> {
    const dest = artifactPath(this.state, key);
    if (this.durable) await syncFileSystem(outDir);
    const existing = this.state.store.getOutput(key);
    if (existing && existsSync(dest) && existing.digest === rec.digest) {
      // Same output again (forced or "always" node): keep the committed tree, refresh the records.
    } else {
      if (existing) {
        // Replacing a committed output: first stop trusting it, then move it away.
        this.state.store.write(() => {
          this.state.store.out.removeSync(key);
        });
      }
      if (existsSync(dest)) {
        const trash = trashPath(this.state);
        await rename(dest, trash);
        this.state.background.push(removeTree(trash).catch(() => undefined));
      }
      await rename(outDir, dest);
      if (this.durable) fsyncDirectory(this.state.artifactsDir);
    }
    const sig = n.partial!.sig;
    const run: RunRecord = {
      key,
      digest: rec.digest,
      durationMs: rec.durationMs,
      bytes: rec.bytes,
      finishedAt: rec.createdAt,
    };
    const write = this.durable ? this.state.store.writeDurable : this.state.store.write;
    write.call(this.state.store, () => {
      const hist = this.state.store.getHistory(n.id) ?? { runs: [], keys: [] };
      hist.runs = [...hist.runs, run].slice(-HISTORY_RUNS);
      hist.keys = [...hist.keys.filter((k) => k !== key), key].slice(-HISTORY_KEYS);
      this.state.store.sig.putSync(key, sig);
      this.state.store.out.putSync(key, rec);
      this.state.store.lru.putSync(key, rec.createdAt);
      this.state.store.hist.putSync(n.id, hist);
      this.state.store.last.putSync(n.id, { key, digest: rec.digest, used: rec.createdAt });
      this.state.store.inflight.removeSync(key);
    });
    this.state.coord.claimCommitted(key);
    this.collector.committed(rec.bytes, existing?.bytes ?? 0);
  }
}
