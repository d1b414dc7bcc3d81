// The engine's public contract. Everything outside engine/ talks to the engine through these types.
// The engine is generic: it knows nodes, inputs, artifacts and events, nothing about OS images.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Identity of a node within one plan, stable across invocations, e.g. "main/packages". */
export type NodeId = string;

/** A file or directory tree the task reads. Fingerprinted by content, type, mode, ownership, xattrs and
 * symlink targets; a missing path fingerprints as "absent" (so creating it later reruns the node). */
export interface PathInput {
  path: string;
  /** Paths relative to `path` to leave out of the fingerprint (e.g. a build directory inside sources). */
  exclude?: string[];
  /** Its content is secret (a passphrase file, a private key): only a keyed digest of its fingerprint is
   * stored, it is never put in the stat cache, and explain says that it changed, nothing more. */
  secret?: boolean;
}

/** One declared path: its label (what explain calls it) and what to fingerprint. */
export type PathDeclaration = readonly [label: string, input: PathInput | string | null];

/** Everything a node's key covers besides the task's name and implementation. Labels are the names shown by
 * explain ("Packages", "mkosi.extra", "env:SOURCE_DATE_EPOCH", "dep:packages"). */
export interface DeclaredInputs {
  /** Config values or other plain data the task reads. */
  values?: Record<string, Json>;
  /** Values that must never be stored or shown (a root password): the key covers a keyed digest of each
   * (HMAC with the cache's secret key), and explain says which one changed, never its value. */
  secrets?: Record<string, Json>;
  /** Files and trees the task reads, in the order it reads them: later trees may override files of
   * earlier ones, so the order is part of the key. Labels are unique. */
  paths?: readonly PathDeclaration[];
  /** Environment given to the task's processes. */
  env?: Record<string, string>;
  /** Nodes whose outputs the task consumes, by label. Their output digests enter the key (early cutoff). */
  deps?: Record<string, NodeId>;
}

/** How a node's output is cached. */
export type CachePolicy =
  /** Normal: reuse the output when the key matches. */
  | "cache"
  /** Run every time (side effects outside the cache, e.g. scripts that touch the source tree); output
   * digest still drives early cutoff downstream. */
  | "always";

export interface TaskDefinition<P = unknown> {
  name: string;
  /** Digest of the code that implements the task: its module and every project module that module
   * imports, computed at build time (see engine/implementation.ts). A code change reruns exactly the
   * tasks whose code changed. */
  implementation: string;
  /** The single place where a task says what it reads. Must be pure and cheap. */
  inputs(params: P): DeclaredInputs;
  run(ctx: TaskContext, params: P): Promise<TaskResult | undefined>;
  /** Named resources held while running (e.g. "package-cache:/var/cache/x"). Serialized across processes. */
  resources?(params: P): string[];
  cache?: CachePolicy;
  /** False for a task whose product lives outside the cache (running it again would act on it, e.g. on a
   * published output): `--check` does not re-execute it. Default true. */
  checkable?: boolean;
}

export interface NodeSpec<P = unknown> {
  id: NodeId;
  task: TaskDefinition<P>;
  params: P;
  /** Grouping for display, e.g. the image name. */
  group?: string;
  /** Short human label, e.g. "packages". Defaults to the task name. */
  label?: string;
}

/** What a node sees of one of its dependencies' outputs. */
export interface DepOutput {
  id: NodeId;
  key: string;
  /** SHA-256 of the output tree and metadata. */
  digest: string;
  /** Read-only directory holding the dependency's committed artifact. */
  dir: string;
  meta: Json;
}

export interface TaskContext {
  id: NodeId;
  key: string;
  /** Empty directory that becomes this node's artifact when run() resolves. */
  out: string;
  /** Scratch directory, removed after the run. */
  tmp: string;
  deps: Record<string, DepOutput>;
  signal: AbortSignal;
  /** Full log of this run (every line passed to log() and every exec() output line). */
  logFile: string;
  log(line: string, stream?: "stdout" | "stderr"): void;
  progress(update: ProgressUpdate): void;
  /** Run a command, streaming its output into log events and the log file. Rejects with a
   * TaskCommandError (command, exit status, tail of output) on failure or cancellation. */
  exec(file: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Directory of any committed artifact this node refers to by key (e.g. lower layers of a stack). */
  artifactDir(key: string): string;
  /** A keyed digest (HMAC-SHA256, hex) with the cache's secret key: for values that must be the same on
   * every run here but unguessable elsewhere (a password's salt). */
  keyedDigest(data: string): string;
}

export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Replace the environment instead of extending process.env. */
  extendEnv?: boolean;
  input?: string | Buffer;
  /** Capture stdout instead of logging it. */
  captureStdout?: boolean;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
}

export interface ProgressUpdate {
  message?: string;
  current?: number;
  total?: number;
  unit?: "items" | "bytes" | "packages";
}

export interface TaskResult {
  /** Small JSON metadata stored in LMDB with the output (package lists, kernel version, ...).
   * It is part of the output digest. */
  meta?: Json;
  /** Keys of other artifacts this artifact refers to (e.g. lower overlay layers); gc keeps them alive. */
  retain?: string[];
}

// ---------------------------------------------------------------------------------------------
// Explain: why a node will run (or ran), as data for renderers.

export type InputKind = "task" | "value" | "secret" | "path" | "order" | "env" | "dep";

export interface InputChange {
  kind: InputKind;
  /** Label as declared ("Packages", "mkosi.extra", "SOURCE_DATE_EPOCH", "packages"); for kind "task"
   * it is "implementation" (or "name"); for kind "order" it is "paths" (old and new hold the labels in
   * their declared order). Secrets carry no old or new value. */
  name: string;
  change: "added" | "removed" | "modified";
  /** Old and new values for values/env/task implementation; digests for paths and deps. */
  old?: Json;
  new?: Json;
  /** For kind "task": the task whose implementation changed. */
  task?: string;
  /** For trees: which files changed, relative to the declared path. */
  files?: { added: string[]; removed: string[]; modified: string[] };
}

export type NodeStatus =
  /** An output for the current key is in the cache. */
  | "cached"
  /** Inputs changed (or never ran): will run. */
  | "will-run"
  /** A dependency will run first; the key is known only afterwards (it may turn out cached). */
  | "pending-deps"
  /** A declared input is missing in a way the task cannot run with. */
  | "missing-input"
  /** Not in the local cache, but the remote cache has it: it will be pulled, not run. */
  | "remote";

export interface NodeExplanation {
  id: NodeId;
  group?: string;
  label: string;
  task: string;
  status: NodeStatus;
  /** Current key when computable. */
  key?: string;
  /** Changed inputs against the last run of this node identity. Empty with status "will-run" means
   * it never ran (see `firstRun`). */
  changes: InputChange[];
  firstRun: boolean;
  /** For "pending-deps": the dependencies that will run, each with its own explanation's root causes. */
  upstream: NodeId[];
  /** The chain down to the root cause(s): node ids from this node to the nodes whose own inputs changed. */
  rootCauses: { chain: NodeId[]; changes: InputChange[] }[];
  lastRun?: RunRecord;
  /** Why a "will-run" (or "pending-deps") node runs, beyond `changes`: never ran; its inputs changed; same
   * inputs as last time but the output is no longer in the cache (evicted, forgotten); its cache policy is
   * "always"; forced by RunOptions.forceRun. (Additive, engine-filled.) */
  reason?: "first-run" | "inputs-changed" | "not-in-cache" | "always" | "forced";
  /** For "missing-input": what is missing (e.g. a dependency that is not part of the plan). */
  problem?: string;
  /** For "remote": what a pull downloads (the compressed artifact) and what it unpacks to. */
  remote?: { bytes: number; unpackedBytes: number };
}

export interface RunRecord {
  key: string;
  digest: string;
  durationMs: number;
  bytes: number;
  /** Epoch milliseconds. */
  finishedAt: number;
}

// ---------------------------------------------------------------------------------------------
// Events: one union, consumed by renderers (ink view, plain log, JSON-SEQ, Chrome trace).

export interface PlannedNode {
  id: NodeId;
  group?: string;
  label: string;
  task: string;
  deps: NodeId[];
}

export type EngineEvent =
  | { type: "planned"; time: number; nodes: PlannedNode[] }
  | { type: "cached"; time: number; id: NodeId; key: string; digest: string; savedMs?: number }
  /** `on`: a resource name (possibly with "(held by process N)"), or "process N building <key prefix>" when
   * another process is producing the same key. */
  | { type: "waiting"; time: number; id: NodeId; on: string }
  | { type: "started"; time: number; id: NodeId; key: string; explanation: NodeExplanation }
  | { type: "progress"; time: number; id: NodeId; update: ProgressUpdate }
  | { type: "log"; time: number; id: NodeId; stream: "stdout" | "stderr"; line: string }
  | {
      type: "finished";
      time: number;
      id: NodeId;
      key: string;
      digest: string;
      durationMs: number;
      bytes: number;
      /** True when the output equals the previous run's output, so dependants stay cached. */
      unchangedOutput: boolean;
    }
  | { type: "failed"; time: number; id: NodeId; error: TaskFailure }
  /** RunOptions.check: a cached node is being run again / was compared. */
  | { type: "checking"; time: number; id: NodeId; key: string }
  | { type: "checked"; time: number; id: NodeId; result: CheckResult }
  | { type: "skipped"; time: number; id: NodeId; reason: "dependency-failed" | "cancelled"; cause?: NodeId }
  /** A remote cache entry is being downloaded (`bytes`: compressed size); progress events follow. */
  | { type: "pulling"; time: number; id: NodeId; key: string; bytes: number }
  /** It is in the local cache now, checked (blob digest, tree, output digest); a "cached" event follows. */
  | { type: "pulled"; time: number; id: NodeId; key: string; bytes: number; durationMs: number }
  | { type: "pushing"; time: number; id: NodeId; key: string }
  /** `bytes`: what was uploaded (blobs the registry had already are not sent again). */
  | { type: "pushed"; time: number; id: NodeId; key: string; bytes: number; durationMs: number }
  /** Something the user should know that does not fail the build (a remote cache that is down). */
  | { type: "warning"; time: number; message: string; id?: NodeId }
  | {
      type: "done";
      time: number;
      ok: boolean;
      ran: number;
      cached: number;
      failed: number;
      savedMs: number;
      /** Of the cached nodes, how many were pulled from the remote cache; nodes pushed to it. */
      pulled?: number;
      pushed?: number;
    };

export interface TaskFailure {
  message: string;
  command?: string[];
  exitCode?: number;
  logTail: string[];
  logFile: string;
}

// ---------------------------------------------------------------------------------------------
// The engine itself. `openEngine` lives in engine/index.ts.

export interface EngineOptions {
  /** Root of the cache: LMDB index, artifacts, temporary space. */
  cacheDir: string;
  /** Parallel nodes; default: CPU count. */
  concurrency?: number;
  /** Size bound for artifacts; least-recently-used entries are evicted to stay below it. */
  maxBytes?: number;
  /** Key for the keyed digests of secret inputs (DeclaredInputs.secrets, secret paths). Default: a random
   * key created once per cache directory (<cacheDir>/secret.key, mode 0600); caches that share entries
   * (a remote cache) must share it. */
  secretKey?: Buffer;
  /** Keep a failed node's scratch directory (its workspace) for inspection instead of removing it; its
   * path is added to the failure message. Leftovers are swept by a later engine in the same cache. */
  keepFailedWorkspaces?: boolean;
  /** A remote cache shared with other machines: read after the local cache misses, written with `push`. */
  remote?: RemoteCacheOptions;
}

export interface RemoteCacheOptions {
  /** An OCI distribution registry repository: https://host[:port]/name, http:// only when written so. */
  url: string;
  /** Upload every output of a run that the remote does not have yet. */
  push?: boolean;
  /** Caches whose artifacts differ for the same keys (e.g. built unprivileged, in a user namespace) use
   * different flavours and never share entries. */
  flavour?: string;
  /** Per-request idle timeout (default 20 s): a registry slower than this counts as down. */
  timeoutMs?: number;
  /** Where credentials and certs.d are looked up (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** certs.d directories (default Docker's and Podman's). */
  certsDirs?: string[];
}

export interface RunOptions {
  signal?: AbortSignal;
  onEvent?: (event: EngineEvent) => void;
  /** Run only these nodes and what they need; default: all. */
  targets?: NodeId[];
  /** Run these even if cached (e.g. --rerun-build-scripts). */
  forceRun?: NodeId[];
  /** Fail (instead of running) when a node for which this returns true would have to run
   * (Incremental=strict). */
  forbidRun?: (explanation: NodeExplanation) => string | undefined;
  /** A cached output is used only when this returns true (default: always). For a node whose product
   * lives outside the cache (a published output), the caller checks that the product is still the one this
   * key made: the key is final only once the node's dependencies have run (early cutoff can bring back an
   * older key), so the check cannot be made while planning. A rejected node runs (reason "forced"). */
  acceptCached?: (id: NodeId, key: string) => boolean;
  /** Re-execute cached nodes after the run (nothing is committed) and compare their fresh outputs with the
   * cached ones (`mkosi --check build`, like `nix build --check`): `true` for every checkable cached node, a
   * number for a random sample of that many. */
  check?: boolean | number;
}

export interface ExplainOptions {
  /** Warnings (a remote cache that is down) are reported here; without a listener, to the next run's. */
  onEvent?: (event: EngineEvent) => void;
}
/** The outcome of re-executing one cached node (RunOptions.check). */
export type CheckResult =
  | { id: NodeId; status: "same"; digest: string }
  | {
      id: NodeId;
      status: "differs";
      cachedDigest: string;
      freshDigest: string;
      metaChanged: boolean;
      /** Files that differ (relative to the artifact), when both trees could be listed. */
      files?: { added: string[]; removed: string[]; modified: string[] };
    }
  | { id: NodeId; status: "failed"; message: string };

export interface RunSummary {
  ok: boolean;
  /** Committed outputs of every node that finished or was cached. */
  outputs: Record<NodeId, DepOutput>;
  failures: Record<NodeId, TaskFailure>;
  ran: NodeId[];
  cached: NodeId[];
  skipped: NodeId[];
  /** Of `cached`, the nodes pulled from the remote cache. */
  pulled?: NodeId[];
  /** With RunOptions.check: one result per re-executed node. A node that differs makes `ok` false. */
  checks?: CheckResult[];
}

export interface GcResult {
  removedEntries: number;
  freedBytes: number;
  remainingBytes: number;
}

export interface Engine {
  /** Plan without running: status and reasons for every node (keys of nodes downstream of a node that
   * must run are unknown and reported as "pending-deps"). */
  explain(nodes: NodeSpec[], options?: ExplainOptions): Promise<NodeExplanation[]>;
  run(nodes: NodeSpec[], options?: RunOptions): Promise<RunSummary>;
  /** Past runs of a node identity, newest first. */
  history(id: NodeId): RunRecord[];
  /** Forget cached outputs of these node identities (all keys ever recorded for them). */
  forget(ids: NodeId[]): Promise<number>;
  gc(options?: { maxBytes?: number }): Promise<GcResult>;
  close(): Promise<void>;
}
