// Keys: a node's signature (its declared inputs with their fingerprints and its dependencies' output
// digests) and the SHA-256 over its canonical encoding. Also the speculative keying that overlaps the stat
// scan, and the lookup of committed outputs by key.
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, linkSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DepOutput, Json, NodeId, PathInput } from "./api.js";
import { canonical, digestOf } from "./encoding.js";
import type { PartialSignature } from "./explain.js";
import type { Guess, Plan, PlanNode } from "./plan.js";
import { artifactPath, type EngineState } from "./state.js";
import type { PathSig, SignatureRecord } from "./store.js";

/** Bumped when the key material's layout changes: old keys then simply miss. */
export const KEY_FORMAT = 2;

export function isSecret(input: PathInput | string | null): input is PathInput & { secret: true } {
  return typeof input === "object" && input !== null && input.secret === true;
}

/** The cache's secret key: created once, readable only by its owner. */
export function cacheSecretKey(cacheDir: string): Buffer {
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

export class Keys {
  /** Names in artifacts/ as listed once per plan (one readdir instead of a stat per node). */
  private listing: Set<string> | undefined;

  constructor(
    private readonly state: EngineState,
    private readonly secretKey: Buffer,
  ) {}

  /** Forget what the previous plan learnt of the file system. */
  reset(): void {
    this.state.fp.reset();
    this.listing = undefined;
  }
  /** Start fingerprinting every declared path of the plan at once (one stat walk for all trees). */
  prefetch(plan: Plan): Promise<void> {
    const all: (PathInput | string | null)[] = [];
    for (const n of plan.order) for (const [, p] of n.inputs?.paths ?? []) if (!isSecret(p)) all.push(p);
    return this.state.fp.prefetch(all).catch(() => undefined); // errors surface where a node awaits its path
  }

  /** Signature of a node's own inputs, dependencies filled from resolved outputs (others pending):
   * synchronously when every declared path is fingerprinted already (the common case after the plan-wide
   * prefetch: no promise per node). */
  signature(
    n: PlanNode,
    plan: Plan,
    outputOf?: (dep: NodeId) => DepOutput | undefined,
  ): PartialSignature | Promise<PartialSignature> {
    const declared = n.inputs!.paths ?? [];
    const known: PathSig[] = [];
    for (const [, input] of declared) {
      const v = isSecret(input) ? undefined : this.state.fp.peek(input);
      if (!v) break;
      known.push(v);
    }
    if (known.length === declared.length) return this.buildSignature(n, plan, known, outputOf);
    return Promise.all(declared.map(([, input]) => this.pathSig(input))).then((fps) =>
      this.buildSignature(n, plan, fps, outputOf),
    );
  }

  /** Fingerprint of one declared path; a secret one is read afresh (never through the stat cache) and
   * only a keyed digest of it is kept. */
  private async pathSig(input: PathInput | string | null): Promise<PathSig> {
    if (!isSecret(input)) return this.state.fp.path(input);
    const tree = await this.state.fp.tree(input.path, input.exclude ?? [], {
      cache: false,
      storeManifests: false,
    });
    return { path: input.path, fp: `S ${this.keyed(tree.fp)}` };
  }

  /** While the stat scan runs in other processes, key every node assuming its declared paths are unchanged
   * (their last recorded fingerprints) and look its output up. Pure reads, no decisions: keying proper takes
   * a guess only when the real fingerprints and dependency outputs turn out equal to the guessed ones. */
  speculate(plan: Plan): void {
    for (const n of plan.order) {
      if (n.problem || !n.inputs) continue;
      const declared = n.inputs.paths ?? [];
      const fps: PathSig[] = [];
      for (const [, input] of declared) {
        const v = isSecret(input) ? undefined : this.state.fp.speculate(input);
        if (!v) break;
        fps.push(v);
      }
      if (fps.length !== declared.length) continue;
      if (!n.deps.every(([, dep]) => plan.nodes.get(dep)?.guess?.out)) continue;
      try {
        const partial = this.buildSignature(n, plan, fps, (dep) => plan.nodes.get(dep)?.guess?.out);
        const key = this.keyOf(partial.sig);
        const out = n.spec.task.cache === "always" ? undefined : this.cachedOutput(n.id, key);
        n.guess = { partial, key, out, last: this.state.store.getLast(n.id) };
      } catch {
        /* keying proper reports it */
      }
    }
  }

  /** The guess, if the node's real inputs are those it assumed. */
  confirmGuess(n: PlanNode, plan: Plan): Guess | undefined {
    const g = n.guess;
    if (!g) return undefined;
    for (const [l, input] of n.inputs!.paths ?? []) {
      const v = this.state.fp.peek(input);
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
    outputOf: ((dep: NodeId) => DepOutput | undefined) | undefined,
  ): PartialSignature {
    const outputFor = outputOf ?? ((dep: NodeId) => plan.nodes.get(dep)?.output);
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
      const o = outputFor(dep);
      if (o) sig.deps[label] = { id: dep, key: o.key, digest: o.digest };
      else pending[label] = dep;
    }
    return { sig, pending };
  }

  keyOf(sig: SignatureRecord): string {
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
  keyed(data: string): string {
    return createHmac("sha256", this.secretKey).update(data).digest("hex");
  }

  /** The committed output of a key, if it is usable. */
  cachedOutput(id: NodeId, key: string): (DepOutput & { durationMs: number }) | undefined {
    const rec = this.state.store.getOutput(key);
    if (!rec) return undefined;
    const dir = artifactPath(this.state, key);
    this.listing ??= new Set(readdirSync(this.state.artifactsDir));
    if (!this.listing.has(key) && !existsSync(dir)) return undefined;
    return { id, key, digest: rec.digest, dir, meta: rec.meta, durationMs: rec.durationMs };
  }
}
