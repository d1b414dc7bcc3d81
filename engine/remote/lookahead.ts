// Pulls within one run. A node is keyed only once its dependencies have outputs, so pulling a chain of
// nodes one after the other would wait for every download and unpack in turn. But a remote record names the
// output digest before its artifact is here: the dependants' keys can be computed from it at once, their
// entries looked up, and their pulls started while the first one is still downloading. A pull that is
// started this way only ever fills the local cache with a correct entry for its key; keying proper still
// happens when the dependencies have settled, and finds the pull in progress (or done).
import type { DepOutput, NodeId } from "../api.js";
import type { Keys } from "../keys.js";
import type { Plan, PlanNode } from "../plan.js";
import { artifactPath, type EngineState } from "../state.js";
import type { RemoteCache, RemoteHooks } from "./cache.js";

export class RunPulls {
  /** Outputs known before their node settles: remote records not pulled yet, local hits found ahead. */
  private readonly known = new Map<NodeId, DepOutput>();
  private readonly started = new Map<string, Promise<DepOutput | undefined>>();
  /** Keys this run pulled (their nodes count as pulled). */
  readonly pulledKeys = new Set<string>();
  private readonly hooks: RemoteHooks;

  constructor(
    private readonly remote: RemoteCache,
    private readonly plan: Plan,
    private readonly keys: Keys,
    private readonly state: EngineState,
    hooks: RemoteHooks,
    /** Whether a node may be served from a cache at all (not forced, not "always"). */
    private readonly eligible: (n: PlanNode) => boolean,
  ) {
    this.hooks = { ...hooks, pulled: (key) => this.pulledKeys.add(key) };
  }

  /** The node's key missed the local cache: pull it, if the remote has it. */
  pull(n: PlanNode, key: string): Promise<DepOutput | undefined> {
    return this.start(n, key);
  }

  private start(n: PlanNode, key: string): Promise<DepOutput | undefined> {
    const running = this.started.get(key);
    if (running) return running;
    const p = (async () => {
      const entry = await this.remote.lookup(key, this.hooks, n.id);
      if (!entry) return undefined;
      const { digest, meta } = entry.record.output;
      this.known.set(n.id, { id: n.id, key, digest, dir: artifactPath(this.state, key), meta });
      void this.ahead(n);
      return await this.remote.pull(key, this.hooks, n.id, entry);
    })();
    this.started.set(key, p);
    // Not pulled (yet): keying proper may try again, e.g. once the layers below were built here.
    void p.then((o) => {
      if (!o && this.started.get(key) === p) this.started.delete(key);
    });
    // Identical nodes of this engine wait for it instead of pulling or running it again.
    const producing = this.state.producing;
    if (!producing.has(key)) {
      producing.set(key, p);
      void p.then(() => {
        if (producing.get(key) === p) producing.delete(key);
      });
    }
    return p;
  }

  /** Keys the dependants of `n`, whose output is known ahead, and starts their pulls. */
  private async ahead(n: PlanNode): Promise<void> {
    const outputOf = (id: NodeId) => this.plan.nodes.get(id)?.output ?? this.known.get(id);
    for (const id of n.dependants) {
      const d = this.plan.nodes.get(id);
      if (d?.state !== "pending" || this.known.has(id) || !this.eligible(d)) continue;
      if (!d.depIds.every((dep) => outputOf(dep) !== undefined)) continue;
      let key: string;
      try {
        const sig = await this.keys.signature(d, this.plan, outputOf);
        key = this.keys.keyOf(sig.sig);
      } catch {
        continue; // keying proper reports it
      }
      if (this.hooks.signal?.aborted) return;
      const local = this.keys.cachedOutput(d.id, key);
      if (local) {
        this.known.set(d.id, local);
        void this.ahead(d);
      } else if (!this.state.producing.has(key)) {
        void this.start(d, key);
      }
    }
  }

  /** Waits for every pull this run started. */
  async settled(): Promise<void> {
    await Promise.all([...this.started.values()]);
  }
}
