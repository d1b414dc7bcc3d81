// A synthetic graph where each kind of input changes in turn: exactly the affected nodes rerun, the
// explanation says why (old vs new, files, the chain down to the root cause), and an unchanged output stops
// the rebuild from spreading (early cutoff).

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type EngineImpl,
  type NodeExplanation,
  type NodeSpec,
  openEngine,
  type TaskDefinition,
} from "../../engine/index.js";
import { cleanup, collector, tempDir } from "./helpers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface World {
  release: string;
  packages: string[];
  sde: string;
  eVersion: number;
  tree: string;
  undeclared: string;
}

interface P {
  world: World;
}

const ran: string[] = [];

function task(
  name: string,
  implementation: string,
  inputs: TaskDefinition<P>["inputs"],
  out: (ctx: Parameters<TaskDefinition<P>["run"]>[0], p: P) => Promise<string>,
): TaskDefinition<P> {
  return {
    name,
    implementation,
    inputs,
    run: async (ctx, p) => {
      ran.push(ctx.id);
      await writeFile(join(ctx.out, "out"), await out(ctx, p));
      return undefined;
    },
  };
}

async function depText(ctx: Parameters<TaskDefinition<P>["run"]>[0], label: string): Promise<string> {
  return await readFile(join(ctx.deps[label]!.dir, "out"), "utf8");
}

function graph(w: World): NodeSpec[] {
  // A: release; P: packages (output ignores order); B: tree + A; C: env + B; D: A; E: version + C + D + P;
  // F: independent.
  const A = task(
    "bootstrap",
    "v1",
    (p) => ({ values: { Release: p.world.release } }),
    async (_c, p) => `A:${p.world.release}`,
  );
  const P = task(
    "packages",
    "v1",
    (p) => ({ values: { Packages: p.world.packages } }),
    async (_c, p) => `P:${[...p.world.packages].sort().join(",")}`,
  );
  const B = task(
    "extra",
    "v1",
    (p) => ({ paths: [["mkosi.extra", p.world.tree]], deps: { bootstrap: "img/A" } }),
    async (ctx, p) =>
      `B:${await depText(ctx, "bootstrap")}:${await readFile(join(p.world.tree, "etc/motd"), "utf8")}:${await readFile(p.world.undeclared, "utf8").catch(() => "")}`,
  );
  const C = task(
    "scripts",
    "v1",
    (p) => ({ env: { SOURCE_DATE_EPOCH: p.world.sde }, deps: { extra: "img/B" } }),
    async (ctx, p) => `C:${await depText(ctx, "extra")}:${p.world.sde}`,
  );
  const D = task(
    "config",
    "v1",
    () => ({ deps: { bootstrap: "img/A" } }),
    async (ctx) => `D:${await depText(ctx, "bootstrap")}`,
  );
  const E = task(
    "output",
    "v0",
    () => ({ deps: { scripts: "img/C", config: "img/D", packages: "img/P" } }),
    async (ctx, p) =>
      `E${p.world.eVersion}:${await depText(ctx, "scripts")}:${await depText(ctx, "config")}:${await depText(ctx, "packages")}`,
  );
  const F = task(
    "other",
    "v1",
    () => ({ values: { x: 1 } }),
    async () => "F",
  );
  const withVersion: TaskDefinition<P> = { ...E, implementation: `v${w.eVersion}` };
  const params = { world: w };
  return [
    { id: "img/A", task: A, params },
    { id: "img/P", task: P, params },
    { id: "img/B", task: B, params },
    { id: "img/C", task: C, params },
    { id: "img/D", task: D, params },
    { id: "img/E", task: withVersion, params },
    { id: "other/F", task: F, params },
  ] as NodeSpec[];
}

describe("invalidation", () => {
  let dir: string;
  let engine: EngineImpl;
  let w: World;

  beforeAll(async () => {
    dir = await tempDir();
    engine = await openEngine({ cacheDir: join(dir, "cache"), racyWindowMs: 0 });
    const tree = join(dir, "extra");
    await mkdir(join(tree, "etc"), { recursive: true });
    await writeFile(join(tree, "etc/motd"), "hello");
    await writeFile(join(tree, "etc/issue"), "issue");
    w = {
      release: "bookworm",
      packages: ["vim", "curl"],
      sde: "0",
      eVersion: 1,
      tree,
      undeclared: join(dir, "undeclared"),
    };
    await writeFile(w.undeclared, "u1");
    const r = await engine.run(graph(w));
    expect(r.ok).toBe(true);
    expect(r.ran.length).toBe(7);
  });
  afterAll(async () => {
    await engine.close();
    await cleanup(dir);
  });

  async function rebuild(): Promise<{
    ran: string[];
    explain: Map<string, NodeExplanation>;
    started: Map<string, NodeExplanation>;
  }> {
    await sleep(15); // past the timestamp granularity, so the stat cache sees the change
    const ex = await engine.explain(graph(w));
    ran.length = 0;
    const c = collector();
    const r = await engine.run(graph(w), { onEvent: c.onEvent });
    expect(r.ok).toBe(true);
    // Nothing left to do afterwards.
    const again = await engine.run(graph(w));
    expect(again.ran).toEqual([]);
    return {
      ran: [...ran].sort(),
      explain: new Map(ex.map((e) => [e.id, e])),
      started: new Map(c.of("started").map((e) => [e.id, e.explanation])),
    };
  }

  it("nothing changed: nothing runs, everything is cached", async () => {
    const r = await rebuild();
    expect(r.ran).toEqual([]);
    expect([...r.explain.values()].every((e) => e.status === "cached" && e.changes.length === 0)).toBe(true);
  });

  it("a config value: that node and everything downstream of its changed output", async () => {
    w.release = "trixie";
    const r = await rebuild();
    expect(r.ran).toEqual(["img/A", "img/B", "img/C", "img/D", "img/E"]);
    const a = r.explain.get("img/A")!;
    expect(a.status).toBe("will-run");
    expect(a.changes).toEqual([
      { kind: "value", name: "Release", change: "modified", old: "bookworm", new: "trixie" },
    ]);
    expect(r.explain.get("img/B")).toMatchObject({ status: "pending-deps", upstream: ["img/A"] });
    expect(r.explain.get("img/E")!.status).toBe("pending-deps");
    expect(r.explain.get("img/E")!.rootCauses).toContainEqual({
      chain: ["img/E", "img/C", "img/B", "img/A"],
      changes: a.changes,
    });
    expect(r.explain.get("img/E")!.rootCauses).toContainEqual({
      chain: ["img/E", "img/D", "img/A"],
      changes: a.changes,
    });
    expect(r.explain.get("other/F")!.status).toBe("cached");
    // When E starts, its dependency digests are known: the change is a dep change, traced to A.
    const e = r.started.get("img/E")!;
    expect(e.changes.map((c) => `${c.kind}:${c.name}`).sort()).toEqual(["dep:config", "dep:scripts"]);
    expect(e.rootCauses.map((c) => c.chain.join(">")).sort()).toEqual([
      "img/E>img/C>img/B>img/A",
      "img/E>img/D>img/A",
    ]);
  });

  it("a file in a tree: that node and its dependants, with the file named", async () => {
    await writeFile(join(w.tree, "etc/motd"), "changed motd");
    const r = await rebuild();
    expect(r.ran).toEqual(["img/B", "img/C", "img/E"]);
    const b = r.explain.get("img/B")!;
    expect(b.changes).toHaveLength(1);
    expect(b.changes[0]).toMatchObject({
      kind: "path",
      name: "mkosi.extra",
      change: "modified",
      files: { added: [], removed: [], modified: ["etc/motd"] },
    });
    expect(r.started.get("img/C")!.rootCauses).toEqual([{ chain: ["img/C", "img/B"], changes: b.changes }]);
  });

  it("an added file in a tree (that B's output ignores: early cutoff)", async () => {
    await writeFile(join(w.tree, "etc/new"), "x");
    const r = await rebuild();
    expect(r.ran).toEqual(["img/B"]);
    expect(r.explain.get("img/B")!.changes[0]!.files).toEqual({
      added: ["etc/new"],
      removed: [],
      modified: [],
    });
  });

  it("after an early cutoff, a dependant's root cause is the dependency's change since its own last run", async () => {
    // C last ran against the B of before etc/new; B has run since (its output unchanged, C stayed cached).
    await writeFile(join(w.tree, "etc/motd"), "motd after a cutoff");
    const r = await rebuild();
    expect(r.ran).toEqual(["img/B", "img/C", "img/E"]);
    const b = r.explain.get("img/B")!;
    expect(b.changes[0]!.files).toEqual({ added: [], removed: [], modified: ["etc/motd"] });
    expect(r.explain.get("img/C")!.rootCauses).toEqual([{ chain: ["img/C", "img/B"], changes: b.changes }]);
  });

  it("an environment variable", async () => {
    w.sde = "1700000000";
    const r = await rebuild();
    expect(r.ran).toEqual(["img/C", "img/E"]);
    expect(r.explain.get("img/C")!.changes).toEqual([
      { kind: "env", name: "SOURCE_DATE_EPOCH", change: "modified", old: "0", new: "1700000000" },
    ]);
  });

  it("a task implementation", async () => {
    w.eVersion = 2;
    const r = await rebuild();
    expect(r.ran).toEqual(["img/E"]);
    expect(r.explain.get("img/E")!.changes).toEqual([
      { kind: "task", name: "implementation", task: "output", change: "modified", old: "v1", new: "v2" },
    ]);
  });

  it("early cutoff: a rerun with identical output keeps dependants cached", async () => {
    w.packages = ["curl", "vim"]; // same set, different order: new key, same output
    const c = collector();
    await sleep(15);
    ran.length = 0;
    const r = await engine.run(graph(w), { onEvent: c.onEvent });
    expect(r.ok).toBe(true);
    expect([...ran].sort()).toEqual(["img/P"]);
    expect(c.of("finished")[0]).toMatchObject({ id: "img/P", unchangedOutput: true });
    expect(r.cached).toContain("img/E");
  });

  it("an undeclared input does not rerun anything", async () => {
    await writeFile(w.undeclared, "u2");
    const r = await rebuild();
    expect(r.ran).toEqual([]);
  });

  it("going back to earlier inputs is a cache hit, explained against the last build", async () => {
    w.release = "bookworm";
    const ex = await engine.explain(graph(w));
    const a = ex.find((e) => e.id === "img/A")!;
    expect(a.status).toBe("cached");
    expect(a.changes).toEqual([
      { kind: "value", name: "Release", change: "modified", old: "trixie", new: "bookworm" },
    ]);
  });

  it("a forgotten output runs again, saying it is not in the cache", async () => {
    await engine.run(graph(w));
    expect(await engine.forget(["other/F"])).toBe(1);
    const ex = await engine.explain(graph(w));
    expect(ex.find((e) => e.id === "other/F")).toMatchObject({
      status: "will-run",
      firstRun: false,
      reason: "not-in-cache",
      changes: [],
    });
    expect(engine.history("other/F").length).toBe(1);
  });
});
