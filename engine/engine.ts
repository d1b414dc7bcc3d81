// The engine: opens the cache (LMDB index, artifacts, temporary space) and wires its parts together.
//   plan.ts         the graph of one explain or run
//   keys.ts         signatures and keys (a node's key uses its dependencies' output digests: early cutoff)
//   explanation.ts  why a node will run, and explain() of a plan
//   session.ts      one run: keying as dependencies resolve, cache hits, the queue, settling
//   execute.ts      one node: claims, locks, the task, the output digest, the atomic commit
//   gc.ts           forget, LRU eviction under a size bound, sweeping what dead processes left

import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import xxhash, { type XXHashAPI } from "xxhash-wasm";
import type {
  DepOutput,
  Engine,
  EngineOptions,
  ExplainOptions,
  GcResult,
  NodeExplanation,
  NodeId,
  NodeSpec,
  RunOptions,
  RunRecord,
  RunSummary,
} from "./api.js";
import { Executor } from "./execute.js";
import { explainPlan } from "./explanation.js";
import { Fingerprinter } from "./fingerprint.js";
import { Collector } from "./gc.js";
import { cacheSecretKey, Keys } from "./keys.js";
import { Coordinator } from "./locks.js";
import { makeOwner, retireOwner } from "./proc.js";
import { RemoteCache } from "./remote/cache.js";
import { RunSession } from "./session.js";
import type { EngineState } from "./state.js";
import { Store } from "./store.js";

export type { RunReason } from "./explanation.js";
export { KEY_FORMAT } from "./keys.js";

/** Cache hits refresh the LRU time only when it is older than this (saves writes on no-op builds). */
const LRU_REFRESH_MS = 10 * 60 * 1000;

/** Kept for compatibility: the explanation fields are all in NodeExplanation now. */
export type EngineExplanation = NodeExplanation;

/** Knobs outside the public contract (tests, benchmarks). */
export interface EngineTuning {
  /** Files changed less than this long ago are not trusted to the stat cache (default 2000 ms). */
  racyWindowMs?: number;
  /** Cache hits refresh an entry's LRU time only when it is older than this (default 10 minutes). */
  lruRefreshMs?: number;
  /** Flush commits to disk in a safe order (default true; bench/durability.ts measures the cost). */
  durable?: boolean;
}

export class EngineImpl implements Engine {
  readonly store: Store;
  private readonly state: EngineState;
  private readonly keys: Keys;
  private readonly collector: Collector;
  private readonly executor: Executor;
  private readonly concurrency: number;
  private readonly lruRefreshMs: number;
  /** The remote cache, when one is configured. */
  readonly remote: RemoteCache | undefined;
  private closed = false;

  constructor(
    readonly cacheDir: string,
    xx: XXHashAPI,
    options: EngineOptions & EngineTuning,
  ) {
    for (const d of ["index", "artifacts", "tmp", "logs"]) mkdirSync(join(cacheDir, d), { recursive: true });
    this.store = new Store(join(cacheDir, "index"));
    const coord = new Coordinator(this.store, makeOwner(randomBytes(8).toString("hex")));
    this.state = {
      cacheDir,
      store: this.store,
      fp: new Fingerprinter(this.store, xx, options.racyWindowMs),
      coord,
      artifactsDir: join(cacheDir, "artifacts"),
      tmpDir: join(cacheDir, "tmp"),
      logsDir: join(cacheDir, "logs"),
      ownerTag: `${process.pid}-${coord.owner.start}`,
      protectedKeys: new Map(),
      producing: new Map<string, Promise<DepOutput | undefined>>(),
      background: [],
    };
    this.concurrency = Math.max(1, options.concurrency ?? availableParallelism());
    this.lruRefreshMs = options.lruRefreshMs ?? LRU_REFRESH_MS;
    this.keys = new Keys(this.state, options.secretKey ?? cacheSecretKey(cacheDir));
    this.collector = new Collector(this.state, options.maxBytes);
    this.executor = new Executor(
      this.state,
      this.keys,
      this.collector,
      options.keepFailedWorkspaces ?? false,
      options.durable ?? true,
    );
    this.remote = options.remote
      ? new RemoteCache(
          this.state,
          (sig) => this.keys.keyOf(sig),
          this.collector,
          options.remote,
          options.durable ?? true,
        )
      : undefined;
  }

  async explain(specs: NodeSpec[], options: ExplainOptions = {}): Promise<NodeExplanation[]> {
    this.assertOpen();
    return explainPlan(this.state, this.keys, specs, this.remote, { emit: options.onEvent });
  }

  async run(specs: NodeSpec[], options: RunOptions = {}): Promise<RunSummary> {
    this.assertOpen();
    this.keys.reset();
    const session = new RunSession(
      {
        state: this.state,
        keys: this.keys,
        executor: this.executor,
        concurrency: this.concurrency,
        lruRefreshMs: this.lruRefreshMs,
        sweepTmp: () => this.collector.sweepTmp(),
        remote: this.remote,
      },
      specs,
      options,
    );
    return session.run();
  }

  history(id: NodeId): RunRecord[] {
    this.assertOpen();
    return this.store.runs(id);
  }

  async forget(ids: NodeId[]): Promise<number> {
    this.assertOpen();
    return this.collector.forget(ids);
  }

  async gc(options: { maxBytes?: number } = {}): Promise<GcResult> {
    this.assertOpen();
    return this.collector.gc(options);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("engine is closed");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.collector.evicting;
    await this.state.fp.flush();
    await Promise.all(this.state.background);
    if (this.remote) {
      await this.remote.settled();
      this.remote.close();
    }
    this.state.coord.releaseAll();
    retireOwner(this.state.coord.owner);
    await this.store.close();
  }
}

let xxPromise: Promise<XXHashAPI> | undefined;

export async function openEngine(options: EngineOptions & EngineTuning): Promise<EngineImpl> {
  xxPromise ??= xxhash();
  const xx = await xxPromise;
  return new EngineImpl(options.cacheDir, xx, options);
}
