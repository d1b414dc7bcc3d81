// Garbage: forgetting node identities, evicting least-recently-used artifacts under a size bound, and
// sweeping what dead processes left (temporary directories, records without artifacts, artifacts without
// records, index entries nothing refers to).
import { existsSync, readdirSync } from "node:fs";
import { rename } from "node:fs/promises";
import { join } from "node:path";
import type { GcResult, NodeId } from "./api.js";
import { removeTree } from "./fsutil.js";
import { isAlive, processStartTime } from "./proc.js";
import { artifactPath, type EngineState, trashPath } from "./state.js";
import type { HistoryRecord, OutputRecord, SignatureRecord } from "./store.js";

export class Collector {
  /** Bytes of all committed artifacts, once counted. */
  totalBytes: number | undefined;

  constructor(
    private readonly state: EngineState,
    private readonly maxBytes: number | undefined,
  ) {}

  /** Account for a commit that replaced `oldBytes` by `newBytes`. */
  committed(newBytes: number, oldBytes: number): void {
    if (this.totalBytes !== undefined) this.totalBytes += newBytes - oldBytes;
  }

  async forget(ids: NodeId[]): Promise<number> {
    const keys = new Set<string>();
    for (const id of ids) {
      const h = this.state.store.getHistory(id);
      if (!h) continue;
      for (const k of h.keys) keys.add(k);
      for (const r of h.runs) keys.add(r.key);
    }
    // Artifacts that refer to a forgotten one (upper layers) go too.
    const retainedBy = new Map<string, string[]>();
    for (const { key, value } of this.state.store.out.getRange({})) {
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
  async removeEntries(keys: string[]): Promise<{ removed: number; freed: number }> {
    let removed = 0;
    let freed = 0;
    const present: string[] = [];
    this.state.store.write(() => {
      for (const k of keys) {
        const r = this.state.store.getOutput(k);
        if (r) {
          removed++;
          freed += r.bytes;
          present.push(k);
          this.state.store.out.removeSync(k);
        }
        this.state.store.lru.removeSync(k);
      }
    });
    for (const k of keys) {
      const dir = artifactPath(this.state, k);
      if (!existsSync(dir)) continue;
      const trash = trashPath(this.state);
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

  evicting: Promise<unknown> | undefined;
  maybeEvict(): Promise<unknown> {
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
    for (const { value } of this.state.store.out.getRange({})) total += (value as OutputRecord).bytes ?? 0;
    return total;
  }

  /** Evict least-recently-used entries until the total is at most `maxBytes`. Entries in use by a run of this
   * process and entries retained by a live entry are kept. */
  private async evict(maxBytes: number): Promise<{ removed: number; freed: number }> {
    const recs = new Map<string, OutputRecord>();
    for (const { key, value } of this.state.store.out.getRange({}))
      recs.set(key as string, value as OutputRecord);
    let total = 0;
    for (const r of recs.values()) total += r.bytes;
    this.totalBytes = total;
    const refs = new Map<string, number>();
    for (const r of recs.values()) for (const k of r.retain ?? []) refs.set(k, (refs.get(k) ?? 0) + 1);
    const lastUse = (k: string) => this.state.store.lastUse(k) ?? recs.get(k)!.createdAt;
    const victims: string[] = [];
    const gone = new Set<string>();
    while (total > maxBytes) {
      let best: string | undefined;
      let bestT = Number.POSITIVE_INFINITY;
      for (const k of recs.keys()) {
        if (gone.has(k) || (refs.get(k) ?? 0) > 0 || this.state.protectedKeys.has(k)) continue;
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
  async sweepTmp(): Promise<void> {
    let names: string[];
    try {
      names = readdirSync(this.state.tmpDir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = /^(\d+)-(\d+)-/.exec(name);
      if (m && processStartTime(Number(m[1])) === m[2]) continue;
      await removeTree(join(this.state.tmpDir, name)).catch(() => undefined);
    }
  }

  async gc(options: { maxBytes?: number } = {}): Promise<GcResult> {
    this.state.coord.sweepDead();
    await this.sweepTmp();
    let removedEntries = 0;
    let freedBytes = 0;
    // Records whose directory is gone.
    const broken: string[] = [];
    const known = new Set<string>();
    for (const { key } of this.state.store.out.getRange({})) {
      known.add(key as string);
      if (!existsSync(artifactPath(this.state, key as string))) broken.push(key as string);
    }
    if (broken.length > 0) removedEntries += (await this.removeEntries(broken)).removed;
    // Directories without a record (a crash between rename and commit), unless being committed right now.
    for (const name of readdirSync(this.state.artifactsDir)) {
      if (known.has(name)) continue;
      const owner = this.state.store.getOwner(this.state.store.inflight, name);
      if (owner && isAlive(owner)) continue;
      const trash = trashPath(this.state);
      try {
        await rename(join(this.state.artifactsDir, name), trash);
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
    for (const { key } of this.state.store.out.getRange({})) liveSigs.add(key as string);
    for (const { value } of this.state.store.hist.getRange({})) {
      const h = value as HistoryRecord;
      for (const k of h.keys ?? []) liveSigs.add(k);
    }
    for (const { value } of this.state.store.last.getRange({})) {
      const k = (value as { key?: unknown }).key;
      if (typeof k === "string") liveSigs.add(k);
    }
    const deadSigs: string[] = [];
    const liveDirs = new Set<string>();
    const markDir = (digest: string) => {
      if (liveDirs.has(digest)) return;
      liveDirs.add(digest);
      for (const [, fp] of this.state.store.getDir(digest) ?? [])
        if (fp.startsWith("d ")) markDir(fp.split(" ")[3]!);
    };
    for (const { key, value } of this.state.store.sig.getRange({})) {
      if (!liveSigs.has(key as string)) {
        deadSigs.push(key as string);
        continue;
      }
      for (const p of Object.values((value as SignatureRecord).paths ?? {}))
        if (p.fp.startsWith("D ")) markDir(p.fp.slice(2));
    }
    const deadDirs: string[] = [];
    for (const { key } of this.state.store.dir.getRange({}))
      if (!liveDirs.has(key as string)) deadDirs.push(key as string);
    const deadStats: string[] = [];
    for (const { key, value } of this.state.store.stat.getRange({})) {
      const p = (value as { path?: string }).path;
      if (typeof p !== "string" || !existsSync(p)) deadStats.push(key as string);
    }
    await this.state.store.env.transaction(() => {
      for (const k of deadSigs) this.state.store.sig.remove(k);
      for (const k of deadDirs) this.state.store.dir.remove(k);
      for (const k of deadStats) this.state.store.stat.remove(k);
    });
  }
}
