import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type EngineImpl, type NodeSpec, openEngine, type TaskDefinition } from "../../engine/index.js";
import { cleanup, collector, type FnParams, fnTask, node, tempDir } from "./helpers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Running (zombies count as dead: nobody may be reaping orphans in a container). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

describe("scheduler", () => {
  let dir: string;
  let engine: EngineImpl;
  beforeEach(async () => {
    dir = await tempDir();
    engine = await openEngine({ cacheDir: join(dir, "cache"), concurrency: 2, racyWindowMs: 0 });
  });
  afterEach(async () => {
    await engine.close();
    await cleanup(dir);
  });

  it("respects the concurrency limit and runs independent nodes in parallel", async () => {
    let running = 0;
    let max = 0;
    const t = fnTask("work");
    const nodes = Array.from({ length: 6 }, (_, i) =>
      node(`n${i}`, t, {
        inputs: { values: { i } },
        run: async () => {
          running++;
          max = Math.max(max, running);
          await sleep(40);
          running--;
          return undefined;
        },
      }),
    );
    const r = await engine.run(nodes);
    expect(r.ok).toBe(true);
    expect(max).toBe(2);
  });

  it("serializes nodes holding the same named resource, and says what it waits for", async () => {
    const e4 = await openEngine({ cacheDir: join(dir, "cache4"), concurrency: 4 });
    let inside = 0;
    let max = 0;
    const t: TaskDefinition<FnParams> = { ...fnTask("locked"), resources: () => ["package-cache:/x"] };
    const nodes = Array.from({ length: 4 }, (_, i) =>
      node(`n${i}`, t, {
        inputs: { values: { i } },
        run: async () => {
          inside++;
          max = Math.max(max, inside);
          await sleep(30);
          inside--;
          return undefined;
        },
      }),
    );
    const c = collector();
    const r = await e4.run(nodes, { onEvent: c.onEvent });
    await e4.close();
    expect(r.ok).toBe(true);
    expect(max).toBe(1);
    expect(c.of("waiting").some((e) => e.on === "package-cache:/x")).toBe(true);
  });

  it("runs identical nodes (same key) once per invocation", async () => {
    let runs = 0;
    const t = fnTask("same");
    const p: FnParams = {
      inputs: { values: { v: 1 } },
      run: async (ctx) => {
        runs++;
        await writeFile(join(ctx.out, "f"), "x");
        await sleep(20);
        return undefined;
      },
    };
    const c = collector();
    const r = await engine.run([node("imageA/x", t, p, "imageA"), node("imageB/x", t, p, "imageB")], {
      onEvent: c.onEvent,
    });
    expect(r.ok).toBe(true);
    expect(runs).toBe(1);
    expect(r.ran.length).toBe(1);
    expect(r.cached.length).toBe(1);
    expect(r.outputs["imageA/x"]!.key).toBe(r.outputs["imageB/x"]!.key);
    expect(r.outputs["imageB/x"]!.id).toBe("imageB/x");
  });

  it("a failure skips its dependants, not unrelated work, and keeps what succeeded cached", async () => {
    let broken = true;
    const t = fnTask("t");
    const ran: string[] = [];
    const mk = (id: string, deps: Record<string, string>, fails = false) =>
      node(id, t, {
        inputs: { values: { id }, deps },
        run: async () => {
          ran.push(id);
          if (fails && broken) throw new Error(`${id} broke`);
          return undefined;
        },
      });
    const graph = () => [
      mk("base", {}),
      mk("bad", { base: "base" }, true),
      mk("after-bad", { bad: "bad" }),
      mk("after-after", { x: "after-bad" }),
      mk("ok", { base: "base" }),
    ];
    const c = collector();
    const r = await engine.run(graph(), { onEvent: c.onEvent });
    expect(r.ok).toBe(false);
    expect(Object.keys(r.failures)).toEqual(["bad"]);
    expect(r.failures.bad!.message).toBe("bad broke");
    expect(r.skipped.sort()).toEqual(["after-after", "after-bad"]);
    expect(c.of("skipped").every((e) => e.reason === "dependency-failed" && e.cause === "bad")).toBe(true);
    expect(r.ran.sort()).toEqual(["base", "ok"]);
    const done = c.events[c.events.length - 1]!;
    expect(done).toMatchObject({ type: "done", ok: false, ran: 2, failed: 1 });
    broken = false;
    ran.length = 0;
    const r2 = await engine.run(graph());
    expect(r2.ok).toBe(true);
    expect(ran.sort()).toEqual(["after-after", "after-bad", "bad"]);
  });

  it("reports a failing command with its exit status, the tail of its output and the log file", async () => {
    const t = fnTask("cmd");
    const c = collector();
    const r = await engine.run(
      [
        node("x", t, {
          inputs: {},
          run: async (ctx) => {
            ctx.log("starting");
            await ctx.exec("sh", ["-c", "for i in $(seq 1 30); do echo line$i; done; echo oops >&2; exit 3"]);
            return undefined;
          },
        }),
      ],
      { onEvent: c.onEvent },
    );
    const f = r.failures.x!;
    expect(f.command).toEqual(["sh", "-c", expect.stringContaining("seq")]);
    expect(f.exitCode).toBe(3);
    expect(f.logTail.length).toBe(20);
    expect(f.logTail[f.logTail.length - 1]).toBe("oops");
    expect(f.message).toMatch(/exit status 3/);
    const log = await readFile(f.logFile, "utf8");
    expect(log).toContain("starting\nline1\n");
    expect(log).toContain("oops");
    expect(c.of("log").find((e) => e.line === "oops")!.stream).toBe("stderr");
    expect(c.of("failed")[0]!.error.exitCode).toBe(3);
  });

  it("exec captures stdout, passes input, env and cwd; reports a missing program", async () => {
    const t = fnTask("cmd");
    let out = "";
    const r = await engine.run([
      node("x", t, {
        inputs: {},
        run: async (ctx) => {
          const res = await ctx.exec("sh", ["-c", 'cat; echo "$FOO"; pwd'], {
            input: "in\n",
            env: { FOO: "bar" },
            cwd: ctx.tmp,
            captureStdout: true,
          });
          out = res.stdout;
          return undefined;
        },
      }),
      node("y", t, {
        inputs: { values: { y: 1 } },
        run: async (ctx) => {
          await ctx.exec("/nonexistent/prog", []);
          return undefined;
        },
      }),
    ]);
    expect(out).toMatch(/^in\nbar\n.*\/tmp\n$/);
    expect(r.failures.y!.message).toMatch(/could not run/);
  });

  it("cancels cleanly: kills running commands (and their children), commits nothing, skips the rest", async () => {
    const t = fnTask("slow");
    const pidFile = join(dir, "pids");
    const ac = new AbortController();
    const c = collector();
    const graph = () => [
      node("slow", t, {
        inputs: {},
        run: async (ctx) => {
          await writeFile(join(ctx.out, "partial"), "x");
          await ctx.exec("sh", ["-c", `sleep 30 & echo $! > ${pidFile}; echo $$ >> ${pidFile}; wait`]);
          return undefined;
        },
      }),
      node("after", t, { inputs: { deps: { s: "slow" } } }),
      node("other", t, {
        inputs: { values: { o: 1 } },
        run: async (ctx) => {
          await new Promise((res) => ctx.signal.addEventListener("abort", res));
          throw new Error("aborted");
        },
      }),
    ];
    const started = Date.now();
    const p = engine.run(graph(), {
      signal: ac.signal,
      onEvent: (e) => {
        c.onEvent(e);
        if (e.type === "log" || (e.type === "started" && e.id === "slow")) setTimeout(() => ac.abort(), 200);
      },
    });
    const r = await p;
    expect(Date.now() - started).toBeLessThan(4000);
    expect(r.ok).toBe(false);
    expect(r.ran).toEqual([]);
    expect(r.skipped.sort()).toEqual(["after", "other", "slow"]);
    expect(c.of("skipped").every((e) => e.reason === "cancelled")).toBe(true);
    const pids = (await readFile(pidFile, "utf8")).trim().split("\n").map(Number);
    await sleep(100);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(engine.history("slow")).toEqual([]);
    const ex = await engine.explain(graph());
    expect(ex[0]).toMatchObject({ id: "slow", status: "will-run", firstRun: true });
  });

  it("forceRun reruns a cached node; forbidRun fails instead of running; targets restrict the plan", async () => {
    let runs = 0;
    const t = fnTask("t");
    const graph = () => [
      node("a", t, {
        inputs: {},
        run: async () => {
          runs++;
          return undefined;
        },
      }),
      node("b", t, { inputs: { values: { b: 1 } } }),
    ];
    await engine.run(graph());
    expect(runs).toBe(1);
    const c = collector();
    await engine.run(graph(), { forceRun: ["a"], onEvent: c.onEvent });
    expect(runs).toBe(2);
    expect(c.of("started")[0]!.explanation).toMatchObject({ reason: "forced" });
    expect(c.of("finished")[0]!.unchangedOutput).toBe(true);
    const r = await engine.run([...graph(), node("c", t, { inputs: { values: { c: 1 } } })], {
      forbidRun: (e) => `would run ${e.id} (Incremental=strict)`,
    });
    expect(r.failures.c!.message).toBe("would run c (Incremental=strict)");
    expect(r.cached.sort()).toEqual(["a", "b"]);
    const r2 = await engine.run([...graph(), node("d", t, { inputs: { values: { d: 1 } } })], {
      targets: ["a"],
    });
    expect(Object.keys(r2.outputs)).toEqual(["a"]);
  });

  it("rejects broken plans: duplicate ids, cycles, unknown targets; a missing dependency fails its node", async () => {
    const t = fnTask("t");
    await expect(engine.run([node("a", t, { inputs: {} }), node("a", t, { inputs: {} })])).rejects.toThrow(
      /duplicate/,
    );
    await expect(
      engine.run([
        node("a", t, { inputs: { deps: { b: "b" } } }),
        node("b", t, { inputs: { deps: { a: "a" } } }),
      ]),
    ).rejects.toThrow(/cycle/);
    await expect(engine.run([node("a", t, { inputs: {} })], { targets: ["zz"] })).rejects.toThrow(/target/);
    const r = await engine.run([node("a", t, { inputs: { deps: { gone: "nope" } } })]);
    expect(r.failures.a!.message).toMatch(/"nope".*not part of the plan/);
    const ex = await engine.explain([node("a", t, { inputs: { deps: { gone: "nope" } } })]);
    expect(ex[0]!.status).toBe("missing-input");
    const bad = await engine.run([node("v", t, { inputs: { values: { when: new Date() as never } } })]);
    expect(bad.failures.v!.message).toMatch(/not plain data/);
  });

  it('"always" nodes run every time, and their unchanged output keeps dependants cached', async () => {
    let runs = 0;
    let downstream = 0;
    const always: TaskDefinition<FnParams> = { ...fnTask("script"), cache: "always" };
    const t = fnTask("t");
    const graph = () => [
      node("s", always, {
        inputs: {},
        run: async (ctx) => {
          runs++;
          await writeFile(join(ctx.out, "f"), "same");
          return undefined;
        },
      }),
      node("d", t, {
        inputs: { deps: { s: "s" } },
        run: async () => {
          downstream++;
          return undefined;
        },
      }),
    ];
    await engine.run(graph());
    const c = collector();
    const r = await engine.run(graph(), { onEvent: c.onEvent });
    expect(runs).toBe(2);
    expect(downstream).toBe(1);
    expect(r.cached).toEqual(["d"]);
    expect(c.of("finished")[0]!.unchangedOutput).toBe(true);
    const ex = await engine.explain(graph());
    expect(ex[0]).toMatchObject({ status: "will-run", reason: "always" });
  });

  it("gives tasks their dependencies' outputs and metadata, and other artifacts by key", async () => {
    const t = fnTask("t");
    let seen: unknown;
    const graph = (): NodeSpec[] => [
      node("lower", t, {
        inputs: {},
        run: async (ctx) => {
          await writeFile(join(ctx.out, "l"), "lower");
          return { meta: { kernel: "6.1" } };
        },
      }),
      node("upper", t, {
        inputs: { deps: { lower: "lower" } },
        run: async (ctx) => {
          const low = ctx.deps.lower!;
          seen = { meta: low.meta, content: await readFile(join(ctx.artifactDir(low.key), "l"), "utf8") };
          return { retain: [low.key] };
        },
      }),
    ];
    const r = await engine.run(graph());
    expect(r.ok).toBe(true);
    expect(seen).toEqual({ meta: { kernel: "6.1" }, content: "lower" });
    expect(r.outputs.lower!.meta).toEqual({ kernel: "6.1" });
  });

  it("emits events in order with epoch-ms times", async () => {
    const t = fnTask("t");
    const c = collector();
    await engine.run(
      [
        node("a", t, {
          inputs: {},
          run: async (ctx) => {
            ctx.progress({ message: "half", current: 1, total: 2 });
            return undefined;
          },
        }),
      ],
      { onEvent: c.onEvent },
    );
    expect(c.events.map((e) => e.type)).toEqual(["planned", "started", "progress", "finished", "done"]);
    for (const e of c.events) expect(Math.abs(e.time - Date.now())).toBeLessThan(60_000);
    expect(c.of("planned")[0]!.nodes).toEqual([{ id: "a", label: "t", task: "t", deps: [] }]);
    expect(c.of("started")[0]!.explanation).toMatchObject({ status: "will-run", firstRun: true });
    const c2 = collector();
    await engine.run([node("a", t, { inputs: {} })], { onEvent: c2.onEvent });
    expect(c2.events.map((e) => e.type)).toEqual(["planned", "cached", "done"]);
  });
});

describe("one engine, two concurrent runs", () => {
  it("runs a key shared by both once", async () => {
    const dir = await tempDir();
    const engine = await openEngine({ cacheDir: join(dir, "cache") });
    let runs = 0;
    const t = fnTask("shared");
    const p: FnParams = {
      inputs: { values: { v: 1 } },
      run: async () => {
        runs++;
        await sleep(100);
        return undefined;
      },
    };
    const [a, b] = await Promise.all([engine.run([node("x/one", t, p)]), engine.run([node("y/one", t, p)])]);
    await engine.close();
    await cleanup(dir);
    expect(a.ok && b.ok).toBe(true);
    expect(runs).toBe(1);
    expect([...a.cached, ...b.cached].length).toBe(1);
  });
});
