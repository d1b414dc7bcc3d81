// What the parts of one open engine share: the index, the fingerprinter, the cross-process coordinator and
// the cache's directories.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { DepOutput, NodeId } from "./api.js";
import { sha256 } from "./encoding.js";
import type { Fingerprinter } from "./fingerprint.js";
import type { Coordinator } from "./locks.js";
import type { Store } from "./store.js";

export interface EngineState {
  readonly cacheDir: string;
  readonly store: Store;
  readonly fp: Fingerprinter;
  readonly coord: Coordinator;
  /** Committed artifacts, one directory per key. */
  readonly artifactsDir: string;
  /** Work directories and trash, named after their owner (swept when the owner is dead). */
  readonly tmpDir: string;
  readonly logsDir: string;
  /** "<pid>-<start time>": names this process's entries in tmpDir. */
  readonly ownerTag: string;
  /** Keys used by runs in progress in this process: never evicted under them. */
  readonly protectedKeys: Map<string, number>;
  /** Keys being produced by runs of this engine: identical nodes run once. */
  readonly producing: Map<string, Promise<DepOutput | undefined>>;
  /** Removals that finish in the background; close() waits for them. */
  readonly background: Promise<unknown>[];
}

export function now(): number {
  return Date.now();
}

export function artifactPath(state: EngineState, key: string): string {
  return join(state.artifactsDir, key);
}

function safeName(id: string): string {
  return `${id.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 80)}-${sha256(id).slice(0, 8)}`;
}

export function logFileOf(state: EngineState, id: NodeId): string {
  return join(state.logsDir, `${safeName(id)}.log`);
}

/** A fresh name in tmpDir for something about to be removed. */
export function trashPath(state: EngineState): string {
  return join(state.tmpDir, `${state.ownerTag}-trash-${randomBytes(6).toString("hex")}`);
}
