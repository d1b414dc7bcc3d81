// Engine benchmark: a synthetic graph of 1000 nodes reading 10k input files. Measures, in a FRESH process,
// the time to plan, fingerprint every input, compute every key and find everything cached (a no-op run).
//
//   npx tsc -p tsconfig.json && node dist/bench/engine-noop.js [workdir]
//
// The parent process builds the inputs and warms the cache, then runs the no-op in fresh child processes.

import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { type NodeSpec, openEngine, type TaskDefinition } from "../engine/index.js";

const NODES = 1000;
const FILES_PER_NODE = 10;

interface P {
  i: number;
  tree: string;
  deps: Record<string, string>;
}

const task: TaskDefinition<P> = {
  name: "synthetic",
  implementation: "synthetic-1",
  inputs: (p) => ({
    values: { index: p.i, options: { packages: ["a", "b", `p${p.i % 7}`], release: "bookworm" } },
    paths: [["tree", p.tree]],
    env: { SOURCE_DATE_EPOCH: "0" },
    deps: p.deps,
  }),
  run: async (ctx, p) => {
    writeFileSync(join(ctx.out, "out"), `node ${p.i}\n`);
    return { meta: { i: p.i } };
  },
};

function graph(work: string): NodeSpec[] {
  const nodes: NodeSpec[] = [];
  for (let i = 0; i < NODES; i++) {
    const deps: Record<string, string> = {};
    // Layered: each node depends on up to three earlier ones.
    for (const d of [i - 1, i - 10, i - 100])
      if (d >= 0 && (d === i - 1 ? i % 10 !== 0 : true)) deps[`n${d}`] = `n${d}`;
    nodes.push({
      id: `n${i}`,
      task: task as TaskDefinition<unknown>,
      params: { i, tree: join(work, "inputs", `t${i}`), deps },
    });
  }
  return nodes;
}

function makeInputs(work: string): void {
  for (let i = 0; i < NODES; i++) {
    for (let f = 0; f < FILES_PER_NODE; f++) {
      const d = join(work, "inputs", `t${i}`, `d${f % 3}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `f${f}`), `tree ${i} file ${f}\n`.repeat(10));
    }
  }
}

/** One node reading one tree of 10k files (100 directories of 100): time to fingerprint it unchanged. */
function treeGraph(work: string): NodeSpec[] {
  return [
    {
      id: "big",
      task: task as TaskDefinition<unknown>,
      params: { i: -1, tree: join(work, "bigtree"), deps: {} },
    },
  ];
}

function makeBigTree(work: string): void {
  for (let d = 0; d < 100; d++) {
    const dir = join(work, "bigtree", `d${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(join(dir, `f${f}`), `big ${d} ${f}\n`);
  }
}

async function treeChild(work: string): Promise<void> {
  const engine = await openEngine({ cacheDir: join(work, "cache") });
  const t0 = performance.now();
  const ex = await engine.explain(treeGraph(work));
  const t1 = performance.now();
  await engine.close();
  if (ex[0]?.status !== "cached") throw new Error(`tree not cached: ${ex[0]?.status}`);
  console.log(JSON.stringify({ treeExplainMs: t1 - t0 }));
}

async function explainChild(work: string): Promise<void> {
  const engine = await openEngine({ cacheDir: join(work, "cache") });
  const nodes = graph(work);
  const t0 = performance.now();
  const ex = await engine.explain(nodes);
  const t1 = performance.now();
  await engine.close();
  if (ex.some((e) => e.status !== "cached")) throw new Error("explain: not all cached");
  console.log(JSON.stringify({ explainMs: t1 - t0 }));
}

async function child(work: string): Promise<void> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const engine = await openEngine({ cacheDir: join(work, "cache") });
  const t1 = performance.now();
  const r = await engine.run(graph(work));
  const t2 = performance.now();
  const c1 = process.cpuUsage(c0);
  await engine.close();
  if (!r.ok || r.cached.length !== NODES)
    throw new Error(`not a no-op: ran ${r.ran.length}, cached ${r.cached.length}`);
  // performance.now() counts from process start: t0 covers node startup and module loading.
  console.log(
    JSON.stringify({
      startupAndImportsMs: t0,
      openMs: t1 - t0,
      runMs: t2 - t1,
      openAndRunCpuMs: (c1.user + c1.system) / 1000,
      totalSinceProcessStartMs: t2,
    }),
  );
}

async function main(): Promise<void> {
  const work = resolve(process.argv[3] ?? join(process.cwd(), "bench/.work/engine-noop"));
  if (process.argv[2] === "child") return await child(work);
  if (process.argv[2] === "tree-child") return await treeChild(work);
  if (process.argv[2] === "explain-child") return await explainChild(work);
  execFileSync("rm", ["-rf", work]);
  makeInputs(work);
  makeBigTree(work);
  // Warm: first run executes everything; wait out the racy window so the stat cache can be trusted.
  let engine = await openEngine({ cacheDir: join(work, "cache") });
  let r = await engine.run(graph(work));
  if (!r.ok) throw new Error("warm-up failed");
  await engine.close();
  await new Promise((res) => setTimeout(res, 2500));
  engine = await openEngine({ cacheDir: join(work, "cache") });
  r = await engine.run(graph(work));
  await engine.run(treeGraph(work));
  await engine.close();
  await new Promise((res) => setTimeout(res, 2500));
  engine = await openEngine({ cacheDir: join(work, "cache") });
  await engine.run(treeGraph(work));
  await engine.close();
  const self = fileURLToPath(import.meta.url);
  const results: Record<string, number>[] = [];
  for (let i = 0; i < 11; i++) {
    const out = execFileSync(process.execPath, [self, "child", work], { encoding: "utf8" });
    results.push(JSON.parse(out) as Record<string, number>);
  }
  const stat = (k: string) => {
    const v = results.map((r) => r[k]!).sort((a, b) => a - b);
    const r1 = (x: number) => Math.round(x * 10) / 10;
    return `median ${r1(v[Math.floor(v.length / 2)]!)}, min ${r1(v[0]!)}`;
  };
  const { loadavg } = await import("node:os");
  console.log(
    `nodes=${NODES} files=${NODES * FILES_PER_NODE}, ${results.length} fresh processes, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
  );
  const trees: number[] = [];
  for (let i = 0; i < 7; i++) {
    const out = execFileSync(process.execPath, [self, "tree-child", work], { encoding: "utf8" });
    trees.push((JSON.parse(out) as { treeExplainMs: number }).treeExplainMs);
  }
  trees.sort((a, b) => a - b);
  const explains: number[] = [];
  for (let i = 0; i < 5; i++) {
    const out = execFileSync(process.execPath, [self, "explain-child", work], { encoding: "utf8" });
    explains.push((JSON.parse(out) as { explainMs: number }).explainMs);
  }
  explains.sort((a, b) => a - b);
  console.log(`explain() of the 1000-node graph, fresh process: median ${Math.round(explains[2]!)} ms`);
  console.log(
    `one unchanged tree of 10k files, fresh process, explain(): median ${Math.round(trees[3]! * 10) / 10} ms`,
  );
  for (const k of ["startupAndImportsMs", "openMs", "runMs", "openAndRunCpuMs", "totalSinceProcessStartMs"])
    console.log(`  ${k}: ${stat(k)}`);
}

await main();
