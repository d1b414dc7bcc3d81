// Crash safety: a child process builds a graph whose nodes write real trees and is SIGKILLed at random
// instants. After every kill a rerun must succeed with results equal to a clean run, and no partial output may
// ever have been served (every node checks its dependencies' trees; see fixtures/graphs.ts).

import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EngineImpl, openEngine } from "../../engine/index.js";
import { checkTree, crashGraph } from "./fixtures/graphs.js";
import { cleanup, compileWorker, tempDir } from "./helpers.js";

const TRIALS = Number(process.env.ENGINE_CRASH_TRIALS ?? 50);

/** Small deterministic PRNG (mulberry32), so a failing trial can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function startWorker(
  worker: string,
  args: string[],
): { child: ChildProcess; ready: Promise<void>; exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [worker, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d) => {
    err += d;
  });
  const ready = new Promise<void>((res, rej) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("ready\n")) res();
    });
    child.on("exit", () => rej(new Error(`worker exited before ready: ${err}`)));
  });
  ready.catch(() => undefined);
  const exit = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  return { child, ready, exit, stderr: () => err };
}

describe("crash safety", () => {
  let dir: string;
  let worker: string;
  let workerDir: string;
  let engines: EngineImpl[];
  let reference: EngineImpl;
  beforeAll(async () => {
    dir = await tempDir();
    ({ worker, dir: workerDir } = await compileWorker());
    // Two lanes, each with its own cache, run side by side to keep the wall time down.
    engines = [
      await openEngine({ cacheDir: join(dir, "cache0") }),
      await openEngine({ cacheDir: join(dir, "cache1") }),
    ];
    reference = await openEngine({ cacheDir: join(dir, "reference") });
  });
  afterAll(async () => {
    for (const e of engines ?? []) await e.close();
    await reference?.close();
    await cleanup(dir);
    await cleanup(workerDir);
  });

  it(`survives SIGKILL at ${TRIALS} random instants`, { timeout: 180_000 }, async () => {
    const seed = Number(process.env.ENGINE_CRASH_SEED ?? Date.now() % 100000);
    const rnd = prng(seed);
    // Calibrate: how long a full build takes in the child after it is ready.
    const cal = startWorker(worker, ["crash", join(dir, "calibration"), "0"]);
    await cal.ready;
    const t0 = Date.now();
    expect(await cal.exit).toBe(0);
    const span = Math.max(50, Date.now() - t0);
    const refDigests = new Map<number, Promise<Record<string, string>>>();
    const referenceOf = (variant: number) => {
      let ref = refDigests.get(variant);
      if (!ref) {
        ref = reference.run(crashGraph(variant)).then((rr) => {
          expect(rr.ok).toBe(true);
          return Object.fromEntries(Object.entries(rr.outputs).map(([k, v]) => [k, v.digest]));
        });
        refDigests.set(variant, ref);
      }
      return ref;
    };
    let killedMidway = 0;
    const timing = { startup: 0, rerun: 0 };
    const lane = async (index: number) => {
      const engine = engines[index]!;
      const cache = join(dir, `cache${index}`);
      for (let trial = index; trial < TRIALS; trial += engines.length) {
        // Mostly new variants (work to do), sometimes an earlier one (partial caches of it).
        const variant = trial % 5 === 4 ? Math.floor(rnd() * trial) : trial;
        const t0 = Date.now();
        const w = startWorker(worker, ["crash", cache, String(variant)]);
        await w.ready;
        timing.startup += Date.now() - t0;
        const delay = Math.floor(rnd() * span * 1.1);
        await new Promise((r) => setTimeout(r, delay));
        const killed = w.child.kill("SIGKILL");
        const code = await w.exit;
        if (killed && code === null) killedMidway++;
        expect(w.stderr(), `trial ${trial} (seed ${seed})`).not.toMatch(/PARTIAL|FAILED/);
        // Rerun: must succeed and equal a clean run.
        const t1 = Date.now();
        const r = await engine.run(crashGraph(variant));
        timing.rerun += Date.now() - t1;
        expect(r.ok, `trial ${trial} (seed ${seed}): ${JSON.stringify(r.failures)}`).toBe(true);
        const got = Object.fromEntries(Object.entries(r.outputs).map(([k, v]) => [k, v.digest]));
        expect(got, `trial ${trial} (seed ${seed})`).toEqual(await referenceOf(variant));
        for (const out of Object.values(r.outputs)) checkTree(out.dir);
      }
      // Leftovers of killed processes are swept; artifacts without a record are removed by gc.
      await engine.gc();
      expect(readdirSync(join(cache, "tmp"))).toEqual([]);
    };
    await Promise.all(engines.map((_, i) => lane(i)));
    console.log(
      `crash: build span ${span} ms, ${killedMidway}/${TRIALS} killed mid-build, total startup ${timing.startup} ms, reruns ${timing.rerun} ms`,
    );
    expect(killedMidway).toBeGreaterThan(TRIALS / 3);
  });
});
