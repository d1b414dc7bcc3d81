// The remote cache: an OCI registry repository holding one manifest per key (tag = the key), whose config
// blob is the node record and whose one layer is the artifact as a zstd-compressed tar.
//
//   lookup(key)  manifest + record, checked (the record's signature must hash to the key): small requests
//   pull(key)    lookup, then the retained artifacts, the blob (digest checked), unpacked into a work
//                directory, the tree checked against the record's fingerprint and output digest, and
//                committed like a local run: flushed, renamed into artifacts/, recorded in one transaction
//   push(key)    retained artifacts first, then the blob, the record, and last the manifest: a reader
//                sees a tag only once everything it names is there
//
// Never a reason to fail a build: a registry that is down, slow or refuses us is reported once and not
// asked again in this process; an entry that turns out bad (digest, record, tree) is reported and its node
// runs locally. A pull holds the key's in-flight claim from before its files land in artifacts/ until they
// are recorded, so local gc and other processes treat it like a node being built.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { DepOutput, EngineEvent, NodeId, RemoteCacheOptions } from "../api.js";
import { fsyncDirectory, syncFileSystem } from "../durable.js";
import { outputDigest } from "../encoding.js";
import { removeTree } from "../fsutil.js";
import type { Collector } from "../gc.js";
import { artifactPath, type EngineState, now, trashPath } from "../state.js";
import { HISTORY_RUNS, type OutputRecord, type SignatureRecord } from "../store.js";
import { manifestDigest } from "../tree-entry.js";
import { packTree, unpackTree } from "./archive.js";
import { findCredentials } from "./credentials.js";
import { Limiter } from "./limit.js";
import { parseRemoteLocation, type RemoteLocation, tagOf } from "./location.js";
import {
  type BlobRef,
  InvalidRecord,
  manifestFor,
  type NodeRecord,
  parseManifest,
  parseRecord,
  RECORD_VERSION,
  reachableManifests,
} from "./record.js";
import { BlobDigestMismatch, RegistryClient, RemoteRejected, RemoteUnavailable } from "./registry.js";

/** Per-request idle timeout unless the options say otherwise. */
export const DEFAULT_TIMEOUT_MS = 20_000;
/** Node records carry directory manifests: bounded, but not tiny. */
const RECORD_MAX_BYTES = 64 << 20;
const PROGRESS_INTERVAL_MS = 250;

/** What a caller (a run, an explain) lends the remote cache: where its events go, its cancellation, and
 * how to keep a key from eviction while it is in use. */
export interface RemoteHooks {
  emit?: (event: EngineEvent) => void;
  signal?: AbortSignal;
  protect?: (key: string) => void;
  /** Told (synchronously) the moment a pulled key is committed, before anyone can find it locally. */
  pulled?: (key: string) => void;
}

export interface RemoteEntry {
  key: string;
  record: NodeRecord;
  layer: BlobRef;
}

/** A remote entry that cannot be used (its node runs locally). */
class PullError extends Error {
  override name = "PullError";
}

/** The layers an entry stacks on are not here (their own pull failed, or they differ here): nothing wrong
 * with the entry itself, which a later attempt may pull once they are. */
class LayersBelowMissing extends Error {
  override name = "LayersBelowMissing";
}

export class RemoteCache {
  readonly location: RemoteLocation;
  readonly pushEnabled: boolean;
  private readonly client: RegistryClient;
  private readonly flavour: string;
  /** Why the remote is not used any more in this process (reported once). */
  private down: string | undefined;
  private readonly lookups = new Map<string, Promise<RemoteEntry | undefined>>();
  private readonly pulls = new Map<string, Promise<DepOutput | undefined>>();
  private readonly pushes = new Map<string, Promise<boolean>>();
  /** Why pushes stopped while pulls go on (the registry refused one). */
  private pushRefused: string | undefined;
  /** Keys whose remote entry proved unusable: not asked for again. */
  private readonly bad = new Set<string>();
  /** Warnings raised while nobody listened (an explain without onEvent): told to the next listener. */
  private unheard: EngineEvent[] = [];
  private readonly pullLimit = new Limiter(2);
  private readonly pushLimit = new Limiter(2);

  constructor(
    private readonly state: EngineState,
    private readonly keyOf: (sig: SignatureRecord) => string,
    private readonly collector: Collector,
    options: RemoteCacheOptions,
    private readonly durable: boolean,
  ) {
    this.location = parseRemoteLocation(options.url);
    this.pushEnabled = options.push ?? false;
    this.flavour = options.flavour ?? "";
    const env = options.env ?? process.env;
    this.client = new RegistryClient(this.location, {
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      credentials: () => findCredentials(this.location.registry, env),
      certsDirs: options.certsDirs,
    });
  }

  /** False once the registry failed us in this process. */
  get available(): boolean {
    return this.down === undefined;
  }

  close(): void {
    this.client.close();
  }

  private tell(event: EngineEvent, hooks: RemoteHooks): void {
    if (hooks.emit) hooks.emit(event);
    else if (event.type === "warning") this.unheard.push(event);
  }

  /** Warnings nobody heard yet go to this listener. */
  flushWarnings(hooks: RemoteHooks): void {
    if (!hooks.emit) return;
    const pending = this.unheard;
    this.unheard = [];
    for (const e of pending) hooks.emit(e);
  }

  private warn(hooks: RemoteHooks, message: string, id?: NodeId): void {
    const e: EngineEvent = { type: "warning", time: now(), message };
    if (id !== undefined) e.id = id;
    this.tell(e, hooks);
  }

  /** Reports a failure: the registry's (once, then the remote is off) or one entry's. */
  private failed(err: unknown, hooks: RemoteHooks, key: string, what: string, id?: NodeId): undefined {
    if (hooks.signal?.aborted || err instanceof LayersBelowMissing) return undefined;
    // Refused a push (credentials that may only pull): stop pushing, keep pulling.
    if (err instanceof RemoteRejected && what === "push of") {
      if (this.pushRefused === undefined) {
        this.pushRefused = err.message;
        this.warn(hooks, `remote cache ${this.location.url} refused a push (${err.message}): not pushing`);
      }
      return undefined;
    }
    if (err instanceof RemoteUnavailable || err instanceof RemoteRejected) {
      if (this.down === undefined) {
        this.down = err.message;
        this.warn(
          hooks,
          `remote cache ${this.location.url} is not usable (${err.message}): building locally${
            this.pushEnabled ? ", not pushing" : ""
          }`,
        );
      }
      return undefined;
    }
    this.bad.add(key);
    const msg = err instanceof Error ? err.message : String(err);
    this.warn(hooks, `remote cache: ${what} ${key.slice(0, 12)}: ${msg}`, id);
    return undefined;
  }

  /** The committed local output of a key, if its files are there. */
  private localOutput(key: string, id?: NodeId): DepOutput | undefined {
    const rec = this.state.store.getOutput(key);
    const dir = artifactPath(this.state, key);
    if (!rec || !existsSync(dir)) return undefined;
    return { id: id ?? rec.nodeId, key, digest: rec.digest, dir, meta: rec.meta };
  }

  // -------------------------------------------------------------------------------------------
  // Lookups

  /** The remote entry of a key (manifest and checked record), or undefined. Memoized per process. */
  lookup(key: string, hooks: RemoteHooks, id?: NodeId): Promise<RemoteEntry | undefined> {
    if (this.down !== undefined || this.bad.has(key)) return Promise.resolve(undefined);
    let p = this.lookups.get(key);
    if (!p) {
      p = this.fetchEntry(key, hooks.signal).catch((err) => this.failed(err, hooks, key, "entry", id));
      this.lookups.set(key, p);
      // A cancelled lookup is not an answer.
      void p.then(() => {
        if (hooks.signal?.aborted) this.lookups.delete(key);
      });
    }
    return p;
  }

  private async fetchEntry(key: string, signal?: AbortSignal): Promise<RemoteEntry | undefined> {
    const tag = tagOf(key, this.flavour);
    const m = await this.client.getManifest(tag, signal);
    if (!m) return undefined;
    const manifest = parseManifest(m.body);
    const body = await this.client.fetchBlob(manifest.config.digest, RECORD_MAX_BYTES, signal);
    if (!body) throw new InvalidRecord(`node record ${manifest.config.digest} is missing`);
    const record = parseRecord(body);
    if (record.key !== key) throw new InvalidRecord(`record is filed under ${key} but says ${record.key}`);
    if (record.flavour !== this.flavour)
      throw new InvalidRecord(`record is of flavour "${record.flavour}", not "${this.flavour}"`);
    const sigKey = this.keyOf(record.signature);
    if (sigKey !== key)
      throw new InvalidRecord(`record's inputs hash to ${sigKey.slice(0, 12)}, not to its key`);
    const retain = [...record.output.retain].sort();
    if (retain.join() !== Object.keys(record.retained).sort().join())
      throw new InvalidRecord("record's retained artifacts do not match its output");
    return { key, record, layer: manifest.layers[0] };
  }

  // -------------------------------------------------------------------------------------------
  // Pulls

  /** Makes a key's remote entry a local cache entry; undefined when there is none or it is unusable. */
  pull(key: string, hooks: RemoteHooks, id?: NodeId, entry?: RemoteEntry): Promise<DepOutput | undefined> {
    const local = this.localOutput(key, id);
    if (local) return Promise.resolve(local);
    let p = this.pulls.get(key);
    if (!p) {
      p = (async () => {
        const e = entry ?? (await this.lookup(key, hooks, id));
        if (!e || this.down !== undefined) return undefined;
        // The layers below are pulled alongside; they must be here before this one is committed.
        const below = this.pullRetained(e, hooks);
        below.catch(() => undefined);
        return await this.materialize(e, id ?? e.record.output.nodeId, hooks, below);
      })().catch((err) => this.failed(err, hooks, key, "pull of", id));
      this.pulls.set(key, p);
      void p.then((o) => {
        if (!o) this.pulls.delete(key);
      });
    }
    return p.then((o) => (o ? { ...o, id: id ?? o.id } : undefined));
  }

  /** An artifact is only usable on top of exactly the layers it was made on: those must be here. */
  private async pullRetained(entry: RemoteEntry, hooks: RemoteHooks): Promise<void> {
    for (const [k, digest] of Object.entries(entry.record.retained)) {
      const o = this.localOutput(k) ?? (await this.pull(k, hooks));
      if (!o) throw new LayersBelowMissing(`retained artifact ${k.slice(0, 12)} is not available`);
      if (o.digest !== digest)
        throw new LayersBelowMissing(
          `retained artifact ${k.slice(0, 12)} differs here (digest ${o.digest.slice(0, 12)})`,
        );
    }
  }

  private async materialize(
    entry: RemoteEntry,
    id: NodeId,
    hooks: RemoteHooks,
    below: Promise<void>,
  ): Promise<DepOutput | undefined> {
    const { state } = this;
    const { key, record } = entry;
    const already = this.localOutput(key, id);
    if (already) return already;
    if (hooks.signal?.aborted) return undefined;
    const claim = state.coord.claim(key);
    if (claim.kind === "done") return this.localOutput(key, id);
    // Another process builds or pulls it: the executor waits for that one.
    if (claim.kind === "busy") return undefined;
    let committed = false;
    const work = join(state.tmpDir, `${state.ownerTag}-pull-${randomBytes(6).toString("hex")}`);
    try {
      hooks.protect?.(key);
      const out = join(work, "out");
      // Transfers and unpacking take a slot; waiting for the layers below does not.
      const { started, tree } = await this.pullLimit.run(async () => {
        const started = now();
        await mkdir(out, { recursive: true });
        this.tell({ type: "pulling", time: started, id, key, bytes: entry.layer.size }, hooks);
        const blob = join(work, "blob");
        await this.download(entry.layer, blob, id, hooks);
        const unpack = unpackTree(out, hooks.signal);
        await Promise.all([pipeline(createReadStream(blob), unpack.input), unpack.done]);
        await rm(blob, { force: true });
        const tree = await state.fp.tree(out, [], { cache: false, storeManifests: false });
        if (tree.fp !== record.output.tree)
          throw new PullError("the unpacked tree does not match the record's fingerprint");
        return { started, tree };
      });
      await below;
      const retained = new Map(record.output.retain.map((k) => [k, state.store.getOutput(k)?.digest ?? ""]));
      const digest = outputDigest(tree.fp, record.output.meta, retained);
      if (digest !== record.output.digest) throw new PullError("the output digest does not match the record");
      if (hooks.signal?.aborted) return undefined;
      await this.commit(entry, id, out, tree.bytes);
      committed = true;
      hooks.pulled?.(key);
      const durationMs = now() - started;
      this.tell({ type: "pulled", time: now(), id, key, bytes: entry.layer.size, durationMs }, hooks);
      return { id, key, digest, dir: artifactPath(state, key), meta: record.output.meta };
    } finally {
      if (!committed) state.coord.unclaim(key);
      await removeTree(work).catch(() => undefined);
    }
  }

  /** The blob into `file`, its digest and size checked. */
  private async download(layer: BlobRef, file: string, id: NodeId, hooks: RemoteHooks): Promise<void> {
    const res = await this.client.getBlob(layer.digest, hooks.signal);
    if (!res) throw new PullError(`blob ${layer.digest} is missing from the registry`);
    const hash = createHash("sha256");
    let size = 0;
    let told = 0;
    const counter = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        hash.update(chunk);
        size += chunk.length;
        const t = now();
        if (t - told >= PROGRESS_INTERVAL_MS) {
          told = t;
          this.tell(
            {
              type: "progress",
              time: t,
              id,
              update: { message: "pulling", current: size, total: layer.size, unit: "bytes" },
            },
            hooks,
          );
        }
        done(null, chunk);
      },
    });
    await pipeline(res, counter, createWriteStream(file));
    const got = `sha256:${hash.digest("hex")}`;
    if (got !== layer.digest || size !== layer.size) throw new BlobDigestMismatch(layer.digest, got);
  }

  /** Same protocol as a local commit (execute.ts): files flushed, renamed into place, one durable record. */
  private async commit(entry: RemoteEntry, id: NodeId, out: string, bytes: number): Promise<void> {
    const { state } = this;
    const { store } = state;
    const { key, record } = entry;
    if (this.durable) await syncFileSystem(out);
    const dest = artifactPath(state, key);
    if (existsSync(dest)) {
      // A directory without a record (an interrupted commit): ours replaces it.
      const trash = trashPath(state);
      await rename(dest, trash);
      state.background.push(removeTree(trash).catch(() => undefined));
    }
    await rename(out, dest);
    if (this.durable) fsyncDirectory(state.artifactsDir);
    const output: OutputRecord = { ...record.output, bytes };
    const t = now();
    const write = this.durable ? store.writeDurable : store.write;
    write.call(store, () => {
      store.sig.putSync(key, record.signature);
      store.out.putSync(key, output);
      store.lru.putSync(key, t);
      for (const [digest, entries] of record.manifests) {
        if (!store.dir.doesExist(digest) && manifestDigest(entries) === digest)
          store.dir.putSync(digest, entries);
      }
      // The run that produced it, so explain and graph show its duration and size here too.
      const hist = store.getHistory(id) ?? { runs: [], keys: [] };
      if (!hist.runs.some((r) => r.key === key && r.digest === output.digest)) {
        hist.runs = [
          ...hist.runs,
          { key, digest: output.digest, durationMs: output.durationMs, bytes, finishedAt: output.createdAt },
        ].slice(-HISTORY_RUNS);
        store.hist.putSync(id, hist);
      }
      store.inflight.removeSync(key);
    });
    state.coord.claimCommitted(key);
    this.collector.committed(bytes, 0);
  }

  // -------------------------------------------------------------------------------------------
  // Pushes

  /** Makes sure the registry has a key's entry (and those of the artifacts it retains). True when it has. */
  push(key: string, hooks: RemoteHooks, id?: NodeId): Promise<boolean> {
    if (!this.pushEnabled || this.down !== undefined || this.pushRefused !== undefined)
      return Promise.resolve(false);
    let p = this.pushes.get(key);
    if (!p) {
      p = this.pushEntry(key, hooks, id).catch((err) => this.failed(err, hooks, key, "push of", id) ?? false);
      this.pushes.set(key, p);
    }
    return p;
  }

  private async pushEntry(key: string, hooks: RemoteHooks, id?: NodeId): Promise<boolean> {
    const { store } = this.state;
    const rec = store.getOutput(key);
    const sig = store.getSignature(key);
    if (!rec || !sig) return false;
    const nodeId = id ?? rec.nodeId;
    const tag = tagOf(key, this.flavour);
    if (await this.client.manifestExists(tag, "push", hooks.signal)) return true;
    // A manifest only once the layers below it are there.
    const retained: Record<string, string> = {};
    for (const k of rec.retain) {
      if (!(await this.push(k, hooks)))
        throw new LayersBelowMissing(`retained artifact ${k.slice(0, 12)} was not pushed`);
      retained[k] = store.getOutput(k)?.digest ?? "";
    }
    return this.pushLimit.run(async () => {
      const started = now();
      this.tell({ type: "pushing", time: started, id: nodeId, key }, hooks);
      const work = join(this.state.tmpDir, `${this.state.ownerTag}-push-${randomBytes(6).toString("hex")}`);
      try {
        await mkdir(work, { recursive: true });
        const file = join(work, "blob");
        const dir = artifactPath(this.state, key);
        const blob = await packTree(dir, file, hooks.signal);
        // gc in another process may have taken the artifact while tar read it.
        if (store.getOutput(key)?.digest !== rec.digest || !existsSync(dir))
          throw new PullError("it left the local cache while it was being packed");
        const record: NodeRecord = {
          version: RECORD_VERSION,
          key,
          flavour: this.flavour,
          signature: sig,
          output: rec,
          retained,
          manifests: reachableManifests(store, sig),
        };
        const config = Buffer.from(JSON.stringify(record));
        const configRef = {
          digest: `sha256:${createHash("sha256").update(config).digest("hex")}`,
          size: config.length,
        };
        let sent = await this.client.uploadBlob(
          blob.digest,
          blob.size,
          () => createReadStream(file),
          hooks.signal,
        );
        sent += await this.client.uploadBlob(configRef.digest, configRef.size, config, hooks.signal);
        const manifest = manifestFor(record, configRef, blob);
        await this.client.putManifest(tag, manifest, hooks.signal);
        sent += manifest.length;
        this.tell(
          { type: "pushed", time: now(), id: nodeId, key, bytes: sent, durationMs: now() - started },
          hooks,
        );
        return true;
      } finally {
        await removeTree(work).catch(() => undefined);
      }
    });
  }

  /** Waits for the pushes started so far. */
  async settled(): Promise<void> {
    await Promise.all([...this.pushes.values()]);
  }
}
