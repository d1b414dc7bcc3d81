// Coordination between nodes and between processes sharing one cache directory:
//  - in-flight records: a process producing key K says so; others wait instead of duplicating the work;
//  - named resource locks, exclusive, acquired all at once (no lock-order deadlocks).
// Records carry the owner's pid and start time; records of dead owners are taken over.

import type { Database } from "lmdb";
import { isAlive, type Owner, sameOwner } from "./proc.js";
import type { Store } from "./store.js";

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res) => {
    if (signal?.aborted) return res();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      res();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

export type ClaimResult = { kind: "claimed" } | { kind: "done" } | { kind: "busy"; owner: Owner };

export class Coordinator {
  private localHeld = new Set<string>();
  private localWaiters: (() => void)[] = [];
  private myInflight = new Set<string>();
  private myLocks = new Set<string>();

  constructor(
    private store: Store,
    readonly owner: Owner,
  ) {}

  private liveOther(db: Database<unknown, string>, key: string): Owner | undefined {
    const rec = this.store.getOwner(db, key);
    if (!rec || sameOwner(rec, this.owner) || !isAlive(rec)) return undefined;
    return rec;
  }

  /** Claim the production of `key` unless it is committed already or a live process is producing it. */
  claim(key: string): ClaimResult {
    return this.store.write((): ClaimResult => {
      if (this.store.out.get(key) !== undefined) return { kind: "done" };
      const other = this.liveOther(this.store.inflight, key);
      if (other) return { kind: "busy", owner: other };
      this.store.inflight.putSync(key, this.owner);
      this.myInflight.add(key);
      return { kind: "claimed" };
    });
  }

  /** Drop an in-flight claim (failure, cancellation). A successful commit drops it in its own txn. */
  unclaim(key: string): void {
    if (!this.myInflight.delete(key)) return;
    this.store.write(() => {
      const rec = this.store.getOwner(this.store.inflight, key);
      if (rec && sameOwner(rec, this.owner)) this.store.inflight.removeSync(key);
    });
  }

  claimCommitted(key: string): void {
    this.myInflight.delete(key);
  }

  /** Wait until `key` is no longer being produced by another live process. */
  async waitInflight(key: string, signal: AbortSignal): Promise<void> {
    let delay = 50;
    while (!signal.aborted) {
      this.store.env.resetReadTxn();
      if (!this.liveOther(this.store.inflight, key)) return;
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 500);
    }
  }

  /** Acquire all named resources at once; `onWait` is told what is being waited for (once per holder). */
  async acquire(names: string[], signal: AbortSignal, onWait: (on: string) => void): Promise<boolean> {
    const wanted = [...new Set(names)].sort();
    if (wanted.length === 0) return true;
    let told = "";
    let delay = 50;
    while (!signal.aborted) {
      const local = wanted.find((n) => this.localHeld.has(n));
      if (local) {
        if (told !== local) {
          told = local;
          onWait(local);
        }
        await new Promise<void>((res) => {
          this.localWaiters.push(res);
          signal.addEventListener("abort", () => res(), { once: true });
        });
        continue;
      }
      this.store.env.resetReadTxn();
      const busy = this.store.write((): string | undefined => {
        for (const n of wanted) {
          const other = this.liveOther(this.store.locks, n);
          if (other) return `${n} (held by process ${other.pid})`;
        }
        for (const n of wanted) this.store.locks.putSync(n, this.owner);
        return undefined;
      });
      if (busy === undefined) {
        for (const n of wanted) {
          this.localHeld.add(n);
          this.myLocks.add(n);
        }
        return true;
      }
      if (told !== busy) {
        told = busy;
        onWait(busy);
      }
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 500);
    }
    return false;
  }

  release(names: string[]): void {
    const held = [...new Set(names)].filter((n) => this.myLocks.has(n));
    if (held.length === 0) return;
    this.store.write(() => {
      for (const n of held) {
        const rec = this.store.getOwner(this.store.locks, n);
        if (rec && sameOwner(rec, this.owner)) this.store.locks.removeSync(n);
      }
    });
    for (const n of held) {
      this.myLocks.delete(n);
      this.localHeld.delete(n);
    }
    const w = this.localWaiters;
    this.localWaiters = [];
    for (const f of w) f();
  }

  /** Release everything this engine still holds (on close). */
  releaseAll(): void {
    for (const k of [...this.myInflight]) this.unclaim(k);
    this.release([...this.myLocks]);
  }

  /** Remove records of dead owners (gc). */
  sweepDead(): number {
    let n = 0;
    for (const db of [this.store.inflight, this.store.locks]) {
      const dead: string[] = [];
      for (const { key } of db.getRange({})) {
        const rec = this.store.getOwner(db, key as string);
        if (!rec || !isAlive(rec)) dead.push(key as string);
      }
      if (dead.length > 0) {
        this.store.write(() => {
          for (const k of dead) {
            const rec = this.store.getOwner(db, k);
            if (!rec || !isAlive(rec)) {
              db.removeSync(k);
              n++;
            }
          }
        });
      }
    }
    return n;
  }
}
