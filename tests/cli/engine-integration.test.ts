// The renderers fed by the real engine (explanations and events as it produces them), so the two stay
// in step. Small generic tasks; no OS images.

import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { buildModel, explainNode, renderGraph } from "../../cli/graph/index.js";
import { graphJsonSchema } from "../../cli/graph/json-schema.js";
import { PlainRenderer, TraceBuilder } from "../../cli/render/index.js";
import type {
  DeclaredInputs,
  Engine,
  EngineEvent,
  NodeSpec,
  PlannedNode,
  TaskContext,
} from "../../engine/api.js";
import { openEngine } from "../../engine/index.js";
import { FakeStream } from "./helpers.js";

interface P {
  inputs: DeclaredInputs;
  run: (ctx: TaskContext) => Promise<void>;
}

function spec(id: string, task: string, params: P): NodeSpec {
  const [group, label] = id.split("/") as [string, string];
  return {
    id,
    group,
    label,
    params,
    task: {
      name: task,
      implementation: "test-1",
      inputs: (p: unknown) => (p as P).inputs,
      run: async (ctx, p) => void (await (p as P).run(ctx)),
    },
  };
}

let dir: string;
let engine: Engine;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mkosi-cli-engine-"));
  engine = await openEngine({ cacheDir: join(dir, "cache"), concurrency: 2 });
});

afterAll(async () => {
  await engine?.close();
  await rm(dir, { recursive: true, force: true });
});

test("explain and run output of the real engine render as expected", async () => {
  const extra = join(dir, "mkosi.extra");
  await mkdir(join(extra, "etc"), { recursive: true });
  await writeFile(join(extra, "etc/motd"), "hello\n");
  let packages = ["systemd", "nano"];

  const nodes = (): NodeSpec[] => [
    spec("main/packages", "packages", {
      inputs: { values: { Packages: packages } },
      run: async (ctx) => {
        ctx.progress({ current: packages.length, total: packages.length, unit: "packages" });
        await writeFile(join(ctx.out, "list"), packages.join("\n"));
      },
    }),
    spec("main/extras", "extras", {
      inputs: { paths: [["mkosi.extra", extra]] },
      run: async (ctx) => {
        await writeFile(join(ctx.out, "motd"), await readFile(join(extra, "etc/motd")));
      },
    }),
    spec("main/postinst", "postinst", {
      inputs: { deps: { packages: "main/packages", extras: "main/extras" } },
      run: async (ctx) => {
        await ctx.exec("sh", ["-c", "echo configuring; echo done >&2"]);
        await writeFile(join(ctx.out, "ok"), "1");
      },
    }),
  ];

  const plain = async (): Promise<{ text: string; events: EngineEvent[] }> => {
    const stream = new FakeStream();
    const r = new PlainRenderer(stream);
    const events: EngineEvent[] = [];
    await engine.run(nodes(), {
      onEvent: (e) => {
        events.push(e);
        r.onEvent(e);
      },
    });
    await r.close();
    return { text: stream.text, events };
  };

  const first = await plain();
  expect(first.text).toMatch(/^#\d \[main\] packages RUNNING \(never built\)$/m);
  expect(first.text).toMatch(/^#\d \[main\] postinst: configuring$/m);
  expect(first.text).toMatch(/^#\d \[main\] postinst: done$/m);
  expect(first.text).toMatch(/^Build finished in \S+: 3 nodes run, 0 cached$/m);

  // Change a setting and a file of the tree.
  packages = ["systemd", "nano", "vim"];
  await writeFile(join(extra, "etc/motd"), "changed\n");
  const explanations = await engine.explain(nodes());
  const planned = first.events.find(
    (e): e is Extract<EngineEvent, { type: "planned" }> => e.type === "planned",
  )!;
  const input = { nodes: planned.nodes as PlannedNode[], explanations };
  const text = renderGraph("text", input);
  expect(text).toMatch(/packages +[0-9a-f]{12} +will run .*Packages= changed: \+vim$/m);
  expect(text).toMatch(/extras +[0-9a-f]{12} +will run .*mkosi\.extra\/etc\/motd changed$/m);
  expect(text).toMatch(/postinst +-{12} +pending deps .*upstream packages, extras will run/m);
  expect(graphJsonSchema.safeParse(JSON.parse(renderGraph("json", input))).success).toBe(true);
  const why = explainNode(buildModel(input), "main/extras");
  expect(why.ok && why.text).toContain("modified: etc/motd");

  const second = await plain();
  expect(second.text).toMatch(/^#\d \[main\] packages RUNNING \(Packages= changed: \+vim\)$/m);
  expect(second.text).toMatch(
    /^#\d \[main\] postinst RUNNING \(upstream extras, packages outputs changed\)$/m,
  );

  // The trace of the same run has one complete event per node.
  const trace = new TraceBuilder();
  for (const e of second.events) trace.add(e);
  expect(
    trace
      .toJson()
      .traceEvents.filter((e) => e.ph === "X")
      .map((e) => e.name)
      .sort(),
  ).toEqual(["extras", "packages", "postinst"]);

  const third = await plain();
  expect(third.text.match(/CACHED$/gm)).toHaveLength(3);
  expect(third.text).toMatch(/^Build finished in \S+: 0 nodes run, 3 cached \(saved \S+\)$/m);
});
