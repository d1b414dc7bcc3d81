// The differential driver: apply a sequence of edits to a configuration tree and, after each, build it
// twice: incrementally (one cache and one output directory for the whole run) and clean (a fresh cache and
// a fresh output directory every time). The two outputs must be identical (listing.ts), and an edit that
// changes nothing must leave the incremental output as it was.
//
// Replay and reduction: every step is recorded as self-contained edits (ops.ts), written to replay.json on
// a mismatch together with the seed; `replaySteps` runs a recorded sequence again, and `reduce` looks for
// a shorter subsequence that still shows the mismatch (delta debugging over the steps, with the
// incremental build after every step kept, since the cache's history is part of a reproduction).
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { EngineEvent } from "../../engine/api.js";
import { canonical } from "../../engine/encoding.js";
import { type SignatureRecord, Store } from "../../engine/store.js";
import { renderConf, type Settings } from "./conf.js";
import { type EditKind, generateStep, type Step } from "./generator.js";
import {
  diffListings,
  escapeBytes,
  formatDifferences,
  type Listing,
  type ListingDifference,
  listTree,
} from "./listing.js";
import { applyOp, describeOp, type Op, SkippedOp } from "./ops.js";
import { Prng } from "./prng.js";

const REPO = resolve(import.meta.dirname, "../..");
const MKOSI = join(REPO, "bin/mkosi");

export interface Variant {
  name: string;
  /** The test file that runs this variant (for the replay command). */
  testFile: string;
  /** The main mkosi.conf at the start, in order. */
  settings: [string, string][];
  /** Edits that make the rest of the starting tree. */
  initial: Op[];
  kinds: EditKind[];
  /** Compare modification times (the variant pins SourceDateEpoch=, which clamps them all). */
  mtimes: boolean;
  /** Extra environment for mkosi. */
  env?: Record<string, string>;
  /** Features left out of this run (printed with the summary). */
  without?: string[];
}

export interface NodeResult {
  status: "ran" | "cached" | "failed";
  /** Why it ran: the names of the inputs that changed (or the engine's reason). */
  why?: string;
  key?: string;
  digest?: string;
}

export interface BuildOutcome {
  code: number;
  /** Why it failed: the failed nodes' messages and the end of stderr. */
  error: string;
  nodes: Map<string, NodeResult>;
  /** What the publish nodes logged (how a directory output was placed). */
  publishLog: string[];
  ms: number;
}

export interface Mismatch {
  step: number;
  kind: string;
  what: string;
  differences: ListingDifference[];
  /** Nodes with the same inputs in both builds but different artifacts: a key that misses an input
   * (or a step that is not deterministic). */
  suspects: string[];
  /** Nodes the incremental build ran at this step. */
  ran: string[];
}

export interface RunResult {
  seed: number;
  steps: Step[];
  mismatches: Mismatch[];
  /** Steps where both builds failed (the edit made an invalid tree): consistent, but tested nothing. */
  bothFailed: number;
  builds: { incrementalMs: number; cleanMs: number };
  /** How often each step ran in the incremental builds, and how the directory output was placed. */
  coverage: Record<string, number>;
  work: string;
}

export interface RunOptions {
  variant: Variant;
  seed: number;
  steps: number;
  /** An empty directory for the run. */
  work: string;
  /** Replay these steps instead of drawing new ones. */
  replay?: Step[];
  /** After a mismatch, resynchronise (wipe the incremental cache and output) and go on. */
  keepGoing?: boolean;
  log?: (line: string) => void;
}

/** Runs bin/mkosi build with --json; collects each node's status, key and output digest. */
export function build(
  conf: string,
  cache: string,
  out: string,
  env: Record<string, string> = {},
): Promise<BuildOutcome> {
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(MKOSI, ["--json", "-O", out, "build"], {
      cwd: conf,
      env: { ...process.env, MKOSI_CACHE_DIR: cache, SOURCE_DATE_EPOCH: "", NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const nodes = new Map<string, NodeResult>();
      const failures: string[] = [];
      const whys = new Map<string, string>();
      const publishLog: string[] = [];
      for (const line of stdout.split("\n")) {
        const text = line.replace(/^\x1e/, "").trim();
        if (!text.startsWith("{")) continue;
        let event: EngineEvent;
        try {
          event = JSON.parse(text) as EngineEvent;
        } catch {
          continue;
        }
        if (event.type === "cached")
          nodes.set(event.id, { status: "cached", key: event.key, digest: event.digest });
        else if (event.type === "started") {
          const e = event.explanation;
          whys.set(
            event.id,
            e.changes.length ? e.changes.map((c) => c.name).join("+") : (e.reason ?? e.status),
          );
        } else if (event.type === "finished")
          nodes.set(event.id, { status: "ran", key: event.key, digest: event.digest });
        else if (event.type === "log" && event.id.endsWith("/publish")) publishLog.push(event.line);
        else if (event.type === "failed") {
          nodes.set(event.id, { status: "failed" });
          failures.push(
            `${event.id}: ${event.error.message}`,
            ...event.error.logTail.slice(-5).map((l) => `  ${l}`),
          );
        }
      }
      for (const [id, why] of whys) {
        const node = nodes.get(id);
        if (node) node.why = why;
      }
      const tail = stderr.trim().split("\n").slice(-6);
      resolvePromise({
        code: code ?? -1,
        error: [...failures, ...tail].join("\n"),
        publishLog,
        nodes,
        ms: Date.now() - started,
      });
    });
  });
}

/** The listing of the entries of an output directory whose top-level names are `names`. Modification
 * times (when compared at all) are those of the image tree: the output files, links and archives
 * themselves are written when the build publishes them. */
async function outputListing(out: string, names: Set<string>, mtimes: boolean): Promise<Listing> {
  const all = await listTree(out, { mtimes: (path, type) => mtimes && (path.includes("/") || type === "d") });
  const listing: Listing = new Map();
  for (const [path, entry] of all) {
    if (path === ".") continue;
    const top = path.split("/", 1)[0]!;
    if (names.has(top)) listing.set(path, entry);
  }
  return listing;
}

/** Overlayfs's own bookkeeping in an upper directory: lower inodes' file handles and the filesystem's
 * uuid, which differ between two caches holding the same layer (the engine's fingerprints leave them out
 * too). */
const OVERLAY_PRIVATE_XATTRS = ["trusted.overlay.origin", "trusted.overlay.impure", "trusted.overlay.uuid"];

function topNames(dir: string): Set<string> {
  return new Set(readdirSync(dir, { encoding: "buffer" }).map((name) => escapeBytes(name)));
}

/** A node's recorded inputs without what legitimately differs between two caches for the same inputs:
 * secrets are keyed digests with each cache's own key, and a dependency's key may differ while its output
 * digest (what the key uses) does not. */
function comparableInputs(sig: SignatureRecord): string {
  const deps = Object.fromEntries(Object.entries(sig.deps).map(([label, dep]) => [label, dep.digest]));
  return canonical({ ...sig, secrets: Object.keys(sig.secrets).sort(), deps });
}

function signatures(cache: string, keys: Map<string, string>): Map<string, string> {
  const store = new Store(join(cache, "index"));
  try {
    const out = new Map<string, string>();
    for (const [id, key] of keys) {
      const sig = store.getSignature(key);
      if (sig) out.set(id, comparableInputs(sig));
    }
    return out;
  } finally {
    void store.close();
  }
}

/**
 * Nodes that had the same inputs in both builds while their artifacts differ: a key that misses an input
 * (or a step that is not deterministic). Inputs are compared from the signatures both caches recorded;
 * artifacts by listing (without times and overlayfs's bookkeeping xattrs).
 */
async function suspectsOf(ws: Workspace, a: BuildOutcome, b: BuildOutcome): Promise<string[]> {
  const keysOf = (o: BuildOutcome) =>
    new Map([...o.nodes].filter(([, n]) => n.key !== undefined).map(([id, n]) => [id, n.key!]));
  const [ka, kb] = [keysOf(a), keysOf(b)];
  const [sa, sb] = [signatures(ws.incremental.cache, ka), signatures(ws.clean.cache, kb)];
  const out: string[] = [];
  for (const [id, inputs] of sa) {
    if (sb.get(id) !== inputs) continue;
    const list = (cache: string, key: string) =>
      listTree(join(cache, "artifacts", key), { ignoreXattrs: OVERLAY_PRIVATE_XATTRS }).catch(
        () => new Map() as Listing,
      );
    const differences = diffListings(
      await list(ws.incremental.cache, ka.get(id)!),
      await list(ws.clean.cache, kb.get(id)!),
    );
    if (differences.length === 0) continue;
    const where = differences
      .slice(0, 3)
      .map((d) => d.path)
      .join(", ");
    const status = a.nodes.get(id)?.status;
    out.push(
      `${id} (${status} in the incremental build; same inputs, artifacts differ at ${where}${differences.length > 3 ? ", …" : ""})`,
    );
  }
  return out;
}

function ranNodes(outcome: BuildOutcome): string[] {
  return [...outcome.nodes].filter(([, n]) => n.status === "ran").map(([id]) => id);
}

/** A workspace: the configuration tree with its settings model, and the two caches and outputs. */
export class Workspace {
  readonly conf: string;
  readonly settings: Settings;
  constructor(
    readonly work: string,
    readonly variant: Variant,
  ) {
    this.conf = join(work, "config");
    this.settings = new Map(variant.settings);
    mkdirSync(this.conf, { recursive: true });
    this.writeConf();
    for (const op of variant.initial) this.apply(op);
    this.resetIncremental();
  }

  private saved: { settings: [string, string][] } | undefined;

  /** Keep a copy of the tree (and the settings model) to go back to. */
  save(): void {
    const copy = `${this.conf}.saved`;
    rmSync(copy, { recursive: true, force: true });
    execFileSync("cp", ["-a", "--", this.conf, copy]);
    this.saved = { settings: [...this.settings] };
  }

  /** Go back to the saved tree. */
  restore(): void {
    if (!this.saved) throw new Error("differential: nothing saved to restore");
    rmSync(this.conf, { recursive: true, force: true });
    renameSync(`${this.conf}.saved`, this.conf);
    this.settings.clear();
    for (const [k, v] of this.saved.settings) this.settings.set(k, v);
    this.saved = undefined;
  }

  private writeConf(): void {
    writeFileSync(join(this.conf, "mkosi.conf"), renderConf(this.settings));
  }

  /** Apply an edit; false when it was skipped (its path is gone). */
  apply(op: Op): boolean {
    if (op.op === "remove-outputs") {
      const { out } = this.incremental;
      for (const name of readdirSync(out, { encoding: "buffer" }))
        rmSync(Buffer.concat([Buffer.from(`${out}/`), name]), { recursive: true, force: true });
      return true;
    }
    try {
      applyOp(this.conf, op, (key, value) => {
        if (value === null) this.settings.delete(key);
        else this.settings.set(key, value);
        // Keep the model's order stable: a key set again stays where it was; a new one goes last.
        this.writeConf();
      });
      return true;
    } catch (e) {
      if (e instanceof SkippedOp) return false;
      throw e;
    }
  }

  get incremental() {
    return { cache: join(this.work, "cache-incremental"), out: join(this.work, "out-incremental") };
  }
  get clean() {
    return { cache: join(this.work, "cache-clean"), out: join(this.work, "out-clean") };
  }

  resetIncremental(): void {
    const { cache, out } = this.incremental;
    rmSync(cache, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
  }

  buildIncremental(): Promise<BuildOutcome> {
    return build(this.conf, this.incremental.cache, this.incremental.out, this.variant.env);
  }

  async buildClean(): Promise<BuildOutcome> {
    const { cache, out } = this.clean;
    rmSync(cache, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    return build(this.conf, cache, out, this.variant.env);
  }

  /** Compare the incremental output with the clean one (the names the clean build produced). */
  async compare(): Promise<{ differences: ListingDifference[]; incremental: Listing; names: Set<string> }> {
    const names = topNames(this.clean.out);
    const incremental = await outputListing(this.incremental.out, names, this.variant.mtimes);
    const clean = await outputListing(this.clean.out, names, this.variant.mtimes);
    return { differences: diffListings(incremental, clean), incremental, names };
  }
}

export function describeStep(step: Step): string {
  return `${step.kind}: ${step.ops.map(describeOp).join("; ")}`;
}

/** A step that only starts the incremental side again (a fresh cache and output), recorded after a
 * mismatch when the run goes on, so that a replay has the same history. */
const RESYNC = "resync";

/** Run the differential test. */
export async function runDifferential(o: RunOptions): Promise<RunResult> {
  const log = o.log ?? (() => undefined);
  const ws = new Workspace(o.work, o.variant);
  const rng = new Prng(o.seed);
  const steps: Step[] = [];
  const mismatches: Mismatch[] = [];
  let bothFailed = 0;
  const times = { incrementalMs: 0, cleanMs: 0 };
  const coverage: Record<string, number> = {};
  const count = (what: string) => {
    coverage[what] = (coverage[what] ?? 0) + 1;
  };
  const listOutput = async () =>
    outputListing(ws.incremental.out, topNames(ws.incremental.out), o.variant.mtimes);
  // The starting tree, built once: the first edit is then applied to a warm cache.
  const first = await ws.buildIncremental();
  if (first.code !== 0) throw new Error(`differential: the starting tree does not build:\n${first.error}`);
  let previous: Listing | undefined = await listOutput();
  const resync = async () => {
    ws.resetIncremental();
    previous = (await ws.buildIncremental()).code === 0 ? await listOutput() : undefined;
  };
  let edits = 0;
  const total = o.replay ? o.replay.filter((s) => s.kind !== RESYNC).length : o.steps;

  for (let i = 0; o.replay ? i < o.replay.length : edits < total; i++) {
    const step =
      o.replay?.[i] ?? generateStep(o.variant.kinds, { rng, root: ws.conf, settings: ws.settings });
    steps.push(step);
    if (step.kind === RESYNC) {
      await resync();
      continue;
    }
    edits++;
    ws.save();
    const skipped = step.ops.filter((op) => !ws.apply(op));
    // The builds must leave the configuration tree (sources included) as it was.
    const tree = await listTree(ws.conf);
    const incremental = await ws.buildIncremental();
    const clean = await ws.buildClean();
    const touched = diffListings(tree, await listTree(ws.conf));
    times.incrementalMs += incremental.ms;
    times.cleanMs += clean.ms;
    const ran = ranNodes(incremental);
    for (const id of ran) count(id.split("/").pop()!);
    for (const line of incremental.publishLog) {
      if (/^updated \d+ and removed \d+ entries/.test(line)) count("publish: directory updated in place");
      else if (/copying the whole tree/.test(line)) count("publish: directory copied whole");
    }
    const failed = [
      incremental.code !== 0 ? " [incremental failed]" : "",
      clean.code !== 0 ? " [clean failed]" : "",
    ];
    log(
      `step ${i + 1} (edit ${edits}/${total}) ${describeStep(step)}${skipped.length ? ` (${skipped.length} skipped)` : ""} → ran ${ran.map((id) => `${id.split("/").pop()}(${incremental.nodes.get(id)?.why ?? "?"})`).join(" ") || "nothing"}${failed.join("")}`,
    );
    const mismatch = async (what: string, differences: ListingDifference[] = []): Promise<Mismatch> => ({
      step: i + 1,
      kind: step.kind,
      what,
      differences,
      suspects: await suspectsOf(ws, incremental, clean),
      ran,
    });
    let found: Mismatch | undefined;
    if (touched.length > 0) {
      found = await mismatch("the builds changed the configuration tree", touched);
    } else if (incremental.code !== 0 && clean.code !== 0) {
      // The edit made a tree both builds reject: consistent. The tree goes back to how it was before the
      // edit (else every later edit would build that same invalid tree); the cache keeps what the failed
      // build committed, and the previous output stays where it was.
      bothFailed++;
      ws.restore();
      log(`  rejected by both builds, undone: ${incremental.error.split("\n")[0]}`);
      continue;
    } else if (incremental.code !== 0 || clean.code !== 0) {
      found = await mismatch(
        incremental.code !== 0
          ? `the incremental build failed, the clean build succeeded:\n${incremental.error}`
          : `the clean build failed, the incremental build succeeded:\n${clean.error}`,
      );
    } else {
      const { differences, incremental: listing, names } = await ws.compare();
      if (differences.length > 0)
        found = await mismatch("the incremental output differs from the clean output", differences);
      else if (step.noop && previous) {
        const before: Listing = new Map([...previous].filter(([path]) => names.has(path.split("/", 1)[0]!)));
        const changed = diffListings(before, listing);
        if (changed.length > 0)
          found = await mismatch("an edit that changes nothing changed the output", changed);
      }
      previous = await listOutput();
    }
    if (!found) continue;
    mismatches.push(found);
    writeReplay(o, steps);
    log(formatMismatch(found, o, steps));
    if (!o.keepGoing) break;
    // Start the incremental side again from the clean state, so later steps test something new.
    if (!o.replay) {
      steps.push({ kind: RESYNC, ops: [], noop: false });
      i++;
      await resync();
    }
  }
  return { seed: o.seed, steps, mismatches, bothFailed, builds: times, coverage, work: o.work };
}

function replayPath(o: RunOptions): string {
  return join(o.work, "replay.json");
}

function writeReplay(o: RunOptions, steps: Step[]): void {
  writeFileSync(
    replayPath(o),
    `${JSON.stringify({ variant: o.variant.name, seed: o.seed, steps }, null, 1)}\n`,
  );
}

export function formatMismatch(m: Mismatch, o: RunOptions, steps: Step[]): string {
  const lines = [
    `MISMATCH (variant ${o.variant.name}, seed ${o.seed}) at step ${m.step}: ${describeStep(steps[m.step - 1]!)}`,
    m.what,
  ];
  if (m.differences.length) lines.push(formatDifferences(m.differences));
  lines.push(
    m.suspects.length
      ? `stale or non-deterministic: ${m.suspects.join("; ")}`
      : "no node had the same inputs in both builds with other artifacts (the difference is made after the cache, when publishing, or by a node whose inputs differ)",
  );
  lines.push(`nodes the incremental build ran: ${m.ran.join(", ") || "none"}`);
  lines.push(`replay: MKOSI_DIFF_REPLAY=${replayPath(o)} npx vitest run ${o.variant.testFile}`);
  lines.push(
    `seed:   MKOSI_DIFF_SEED=${o.seed} MKOSI_DIFF_STEPS=${m.step} npx vitest run ${o.variant.testFile}`,
  );
  lines.push("steps:");
  steps.slice(0, m.step).forEach((s, i) => {
    lines.push(`  ${i + 1}. ${describeStep(s)}`);
  });
  return lines.join("\n");
}

/** Replays `steps` in a fresh workspace, building incrementally after each, and compares with a clean
 * build at the end only. Returns the differing paths (empty when identical; ["<failure>"] when exactly one
 * of the two builds failed). */
export async function replayOnce(variant: Variant, steps: Step[], work: string): Promise<string[]> {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const ws = new Workspace(work, variant);
  await ws.buildIncremental();
  let last: BuildOutcome | undefined;
  for (const [index, step] of steps.entries()) {
    if (step.kind === RESYNC) ws.resetIncremental();
    ws.save();
    for (const op of step.ops) ws.apply(op);
    last = await ws.buildIncremental();
    if (index === steps.length - 1 || last.code === 0) continue;
    // As in a run: an edit both builds reject is undone.
    if ((await ws.buildClean()).code !== 0) ws.restore();
  }
  const clean = await ws.buildClean();
  const incrementalFailed = (last?.code ?? 0) !== 0;
  if (incrementalFailed || clean.code !== 0)
    return incrementalFailed === (clean.code !== 0) ? [] : ["<failure>"];
  return (await ws.compare()).differences.map((d) => d.path);
}

/** Delta debugging (ddmin): a smallest subsequence of `items` (1-minimal: removing any one chunk at the
 * finest granularity tried loses the property) for which `interesting` still holds. */
export async function ddmin<T>(items: T[], interesting: (candidate: T[]) => Promise<boolean>): Promise<T[]> {
  let current = items;
  let n = 2;
  while (current.length >= 2) {
    const chunk = Math.ceil(current.length / n);
    let reduced = false;
    for (let start = 0; start < current.length; start += chunk) {
      const complement = [...current.slice(0, start), ...current.slice(start + chunk)];
      if (complement.length > 0 && (await interesting(complement))) {
        current = complement;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= current.length) break;
      n = Math.min(n * 2, current.length);
    }
  }
  return current;
}

/** The shortest subsequence of the steps found whose replay still differs at one of the paths of the
 * original mismatch (the incremental build after every step kept: the cache's history is part of a
 * reproduction). */
export async function reduce(
  variant: Variant,
  steps: Step[],
  paths: string[],
  work: string,
  log: (line: string) => void = () => undefined,
): Promise<Step[]> {
  const wanted = new Set(paths.length ? paths : ["<failure>"]);
  return ddmin(steps, async (candidate) => {
    const differing = await replayOnce(variant, candidate, work);
    const yes = differing.some((p) => wanted.has(p));
    log(`reduce: ${candidate.length} steps → ${yes ? "still differs" : "no longer differs"}`);
    return yes;
  });
}
