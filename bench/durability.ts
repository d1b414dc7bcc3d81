// What durable commits cost (engine/durable.ts: syncfs of the artifact, fsync of the artifacts directory,
// a flushed LMDB commit), against the same runs without them. Two shapes: 50 small nodes in a chain (the
// per-commit overhead) and one node writing 200 MB in 2,000 files (the flush of a big layer, like a
// bootstrap). Runs alternate between the two modes; medians of 5.
//
//   npm run build && node dist/bench/durability.js [workdir]

import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { type NodeSpec, openEngine, type TaskDefinition } from "../engine/index.js";

interface P {
  i: number;
  files: number;
  bytes: number;
  run: number;
  deps: Record<string, string>;
}

const task: TaskDefinition<P> = {
  name: "write",
  implementation: "bench-1",
  inputs: (p) => ({ values: { i: p.i, run: p.run, files: p.files, bytes: p.bytes }, deps: p.deps }),
  run: async (ctx, p) => {
    for (let f = 0; f < p.files; f++) {
      const dir = join(ctx.out, `d${f % 20}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `f${f}`), randomBytes(p.bytes));
    }
    return undefined;
  },
};

function chain(run: number): NodeSpec[] {
  return Array.from({ length: 50 }, (_, i) => ({
    id: `n${i}`,
    task: task as TaskDefinition<unknown>,
    params: { i, files: 4, bytes: 1024, run, deps: i > 0 ? { prev: `n${i - 1}` } : {} },
  }));
}

function big(run: number): NodeSpec[] {
  return [
    {
      id: "big",
      task: task as TaskDefinition<unknown>,
      params: { i: 0, files: 2000, bytes: 100 * 1024, run, deps: {} },
    },
  ];
}

async function time(work: string, durable: boolean, nodes: NodeSpec[]): Promise<number> {
  const cacheDir = join(work, durable ? "durable" : "volatile");
  const engine = await openEngine({ cacheDir, durable, concurrency: 1 });
  const t0 = performance.now();
  const r = await engine.run(nodes);
  const t1 = performance.now();
  await engine.close();
  if (!r.ok || r.ran.length !== nodes.length) throw new Error("benchmark run did not run every node");
  return t1 - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const work = resolve(process.argv[2] ?? ".bench-durability");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const rows: Record<string, { durable: number[]; volatile: number[] }> = {
    "50 small nodes": { durable: [], volatile: [] },
    "one 200 MB node": { durable: [], volatile: [] },
  };
  for (let run = 0; run < 5; run++) {
    for (const durable of [true, false]) {
      rows["50 small nodes"]![durable ? "durable" : "volatile"].push(await time(work, durable, chain(run)));
      rows["one 200 MB node"]![durable ? "durable" : "volatile"].push(await time(work, durable, big(run)));
    }
  }
  for (const [name, r] of Object.entries(rows)) {
    const d = median(r.durable);
    const v = median(r.volatile);
    console.log(
      `${name}: durable ${d.toFixed(0)} ms, without ${v.toFixed(0)} ms (+${(d - v).toFixed(0)} ms)`,
    );
  }
  rmSync(work, { recursive: true, force: true });
}

await main();
