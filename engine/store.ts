// The LMDB index: one environment under <cacheDir>/index with a few named databases.
//
//   sig      key            -> SignatureRecord   full input record of a key (explain diffs these)
//   out      key            -> OutputRecord      committed output of a key (artifact dir is artifacts/<key>)
//   lru      key            -> number            last use (epoch ms), kept apart so hits rewrite little
//   last     node id        -> LastRecord        key (and its digest) last used by that identity: run or hit
//   hist     node id        -> HistoryRecord     past runs of that identity, keys ever recorded for it
//   dir      dir digest     -> DirManifest       content-addressed directory listings (Merkle tree of inputs)
//   stat     xxh64(path)    -> StatRecord        stat cache: stat tuple -> content digest, link target, xattrs
//   root     xxh64(path+ex) -> RootRecord        per declared path: xxh64 over all stat tuples -> fingerprint
//   inflight key            -> Owner             a process is producing this key right now
//   locks    resource name  -> Owner             named resources held across processes
//
// Records are validated when read: with zod (loaded lazily), or for the hot ones (outputs, last use, stat and
// root records) with hand-written guards.
// Large blobs never go in here: artifacts live on disk.

import { createRequire } from "node:module";
import type { Database, RootDatabase } from "lmdb";
import type * as Z from "zod";
import type { Json, RunRecord } from "./api.js";
import type { Owner } from "./proc.js";

// lmdb through its CommonJS build: one bundled file instead of a dozen ES modules, ~20 ms less start-up
// on every command (it is the package's own "require" entry point; nothing imports the ES one).
const { open } = createRequire(import.meta.url)("lmdb") as typeof import("lmdb");

// zod is loaded on first use only: the hot records are checked by hand, so a no-op build never pays for
// loading it (~70 ms on this machine).
function buildSchemas(z: typeof Z) {
  const pathSig = z.object({
    path: z.string().nullable(),
    exclude: z.array(z.string()).optional(),
    /** Fingerprint of the path: "none", "absent", or a typed entry string (see fingerprint.ts). */
    fp: z.string(),
  });
  const depSig = z.object({ id: z.string(), key: z.string(), digest: z.string() });
  return {
    pathSig,
    depSig,
    signature: z.object({
      task: z.string(),
      implementation: z.string(),
      values: z.record(z.string(), z.unknown()),
      /** Keyed digests (HMAC-SHA256, hex) of secret values. */
      secrets: z.record(z.string(), z.string()),
      paths: z.record(z.string(), pathSig),
      /** Path labels in their declared order (the order is part of the key). */
      pathOrder: z.array(z.string()),
      env: z.record(z.string(), z.string()),
      deps: z.record(z.string(), depSig),
    }),
    output: z.object({
      digest: z.string(),
      /** Root fingerprint of the artifact tree. */
      tree: z.string(),
      /** JSON by construction (the store's encoding is JSON): not walked again on every read. */
      meta: z.unknown().transform((v) => v as Json),
      retain: z.array(z.string()),
      bytes: z.number(),
      durationMs: z.number(),
      createdAt: z.number(),
      nodeId: z.string(),
      task: z.string(),
    }),
    last: z.object({
      key: z.string(),
      digest: z.string(),
      /** When this identity last used the key (run or hit), epoch ms. */
      used: z.number().optional(),
    }),
    history: z.object({
      runs: z.array(
        z.object({
          key: z.string(),
          digest: z.string(),
          durationMs: z.number(),
          bytes: z.number(),
          finishedAt: z.number(),
        }),
      ),
      /** Every key recorded for this identity (for forget), newest last, bounded. */
      keys: z.array(z.string()),
    }),
    owner: z.object({ pid: z.number(), start: z.string(), host: z.string(), token: z.string() }),
    dir: z.array(z.tuple([z.string(), z.string()])),
  };
}

type Schemas = ReturnType<typeof buildSchemas>;
let schemaCache: Schemas | undefined;

/** The record schemas (zod, loaded on first call). */
export function schemas(): Schemas {
  schemaCache ??= buildSchemas(createRequire(import.meta.url)("zod") as typeof Z);
  return schemaCache;
}

export type PathSig = Z.infer<Schemas["pathSig"]>;
export type DepSig = Z.infer<Schemas["depSig"]>;
export interface SignatureRecord {
  task: string;
  implementation: string;
  values: Record<string, Json>;
  secrets: Record<string, string>;
  paths: Record<string, PathSig>;
  pathOrder: string[];
  env: Record<string, string>;
  deps: Record<string, DepSig>;
}
export type OutputRecord = Z.infer<Schemas["output"]>;
export type LastRecord = Z.infer<Schemas["last"]>;
export type HistoryRecord = Z.infer<Schemas["history"]>;

/** [name, fingerprint] sorted by name. */
export type DirManifest = [string, string][];

export interface StatRecord {
  path: string;
  /** "ino:size:mtimeMs:ctimeMs:mode:uid:gid:rdev" */
  stat: string;
  /** Fingerprint entry for non-directories; for directories only the xattr part is cached. */
  fp: string;
}
export interface RootRecord {
  path: string;
  exclude: string;
  statHash: string;
  fp: string;
}

function isOutputRecord(v: unknown): v is OutputRecord {
  const r = v as OutputRecord;
  return (
    typeof r === "object" &&
    r !== null &&
    typeof r.digest === "string" &&
    typeof r.tree === "string" &&
    r.meta !== undefined &&
    Array.isArray(r.retain) &&
    r.retain.every((k) => typeof k === "string") &&
    typeof r.bytes === "number" &&
    typeof r.durationMs === "number" &&
    typeof r.createdAt === "number" &&
    typeof r.nodeId === "string" &&
    typeof r.task === "string"
  );
}

function isStatRecord(v: unknown): v is StatRecord {
  const r = v as StatRecord;
  return (
    typeof r === "object" &&
    r !== null &&
    typeof r.path === "string" &&
    typeof r.stat === "string" &&
    typeof r.fp === "string"
  );
}
function isRootRecord(v: unknown): v is RootRecord {
  const r = v as RootRecord;
  return (
    typeof r === "object" &&
    r !== null &&
    typeof r.path === "string" &&
    typeof r.exclude === "string" &&
    typeof r.statHash === "string" &&
    typeof r.fp === "string"
  );
}

/** Flags for our write transactions: ABORTABLE | SYNCHRONOUS_COMMIT | NO_SYNC_FLUSH. Commits are atomic and
 * visible to other processes at once; flushing to disk happens in the background. A killed process loses
 * nothing committed (the page cache survives it); a power loss may lose the last commits, never consistency. */
export const TXN_FLAGS = 0x1 | 0x2 | 0x10000;
/** ABORTABLE | SYNCHRONOUS_COMMIT, flushed: the commit is on disk when it returns (records of artifacts,
 * whose files were flushed first; see durable.ts). */
export const DURABLE_TXN_FLAGS = 0x1 | 0x2;

export const HISTORY_RUNS = 50;
export const HISTORY_KEYS = 200;

export class Store {
  readonly env: RootDatabase;
  readonly sig: Database<unknown, string>;
  readonly out: Database<unknown, string>;
  readonly lru: Database<unknown, string>;
  readonly hist: Database<unknown, string>;
  readonly last: Database<unknown, string>;
  readonly dir: Database<unknown, string>;
  readonly stat: Database<unknown, string>;
  readonly root: Database<unknown, string>;
  readonly inflight: Database<unknown, string>;
  readonly locks: Database<unknown, string>;

  constructor(path: string) {
    this.env = open({ path, maxDbs: 16, encoding: "json", mapSize: 2 ** 36 });
    const db = (name: string) => this.env.openDB<unknown, string>({ name, encoding: "json" });
    this.sig = db("sig");
    this.out = db("out");
    this.lru = db("lru");
    this.hist = db("hist");
    this.last = db("last");
    this.dir = db("dir");
    this.stat = db("stat");
    this.root = db("root");
    this.inflight = db("inflight");
    this.locks = db("locks");
  }

  /** A synchronous write transaction (see TXN_FLAGS). */
  write<T>(action: () => T): T {
    return this.env.transactionSync(action, TXN_FLAGS);
  }

  /** A synchronous write transaction that is on disk when it returns (see DURABLE_TXN_FLAGS). */
  writeDurable<T>(action: () => T): T {
    return this.env.transactionSync(action, DURABLE_TXN_FLAGS);
  }

  getSignature(key: string): SignatureRecord | undefined {
    const v = this.sig.get(key);
    if (v === undefined) return undefined;
    const r = schemas().signature.safeParse(v);
    return r.success ? (r.data as SignatureRecord) : undefined;
  }

  /** Hot path (every node of every build): a hand-written check equivalent to outputSchema. */
  getOutput(key: string): OutputRecord | undefined {
    const v = this.out.get(key);
    return isOutputRecord(v) ? v : undefined;
  }

  /** Read by explain for every node: a hand-written check equivalent to historySchema. */
  getHistory(id: string): HistoryRecord | undefined {
    const v = this.hist.get(id) as HistoryRecord | undefined;
    if (typeof v !== "object" || v === null || !Array.isArray(v.runs) || !Array.isArray(v.keys))
      return undefined;
    for (const r of v.runs) {
      if (
        typeof r !== "object" ||
        r === null ||
        typeof r.key !== "string" ||
        typeof r.digest !== "string" ||
        typeof r.durationMs !== "number" ||
        typeof r.bytes !== "number" ||
        typeof r.finishedAt !== "number"
      )
        return undefined;
    }
    if (!v.keys.every((k) => typeof k === "string")) return undefined;
    return v;
  }

  /** Manifests written but maybe not committed yet (lmdb-js writes are asynchronous). */
  readonly pendingDirs = new Map<string, DirManifest>();

  /** Hot path: a hand-written check equivalent to lastSchema. */
  getLast(id: string): LastRecord | undefined {
    const v = this.last.get(id) as LastRecord | undefined;
    if (
      typeof v === "object" &&
      v !== null &&
      typeof v.key === "string" &&
      typeof v.digest === "string" &&
      (v.used === undefined || typeof v.used === "number")
    )
      return v;
    return undefined;
  }

  getDir(digest: string): DirManifest | undefined {
    const p = this.pendingDirs.get(digest);
    if (p) return p;
    const v = this.dir.get(digest);
    if (v === undefined) return undefined;
    const r = schemas().dir.safeParse(v);
    return r.success ? (r.data as DirManifest) : undefined;
  }

  getStat(hash: string): StatRecord | undefined {
    const v = this.stat.get(hash);
    return isStatRecord(v) ? v : undefined;
  }

  getRoot(hash: string): RootRecord | undefined {
    const v = this.root.get(hash);
    return isRootRecord(v) ? v : undefined;
  }

  getOwner(db: Database<unknown, string>, key: string): Owner | undefined {
    const v = db.get(key);
    if (v === undefined) return undefined;
    const r = schemas().owner.safeParse(v);
    return r.success ? r.data : undefined;
  }

  lastUse(key: string): number | undefined {
    const v = this.lru.get(key);
    return typeof v === "number" ? v : undefined;
  }

  runs(id: string): RunRecord[] {
    return [...(this.getHistory(id)?.runs ?? [])].reverse();
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}
