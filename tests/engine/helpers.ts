import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type {
  DeclaredInputs,
  EngineEvent,
  NodeSpec,
  TaskContext,
  TaskDefinition,
  TaskResult,
} from "../../engine/index.js";

export async function tempDir(prefix = "mkosi-engine-test-"): Promise<string> {
  return await mkdtemp(join(tmpdir(), prefix));
}

export async function cleanup(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export interface FnParams {
  inputs: DeclaredInputs;
  run?: (ctx: TaskContext) => Promise<TaskResult | undefined>;
}

/** A generic task whose inputs and behaviour come from its params. */
export function fnTask(
  name: string,
  implementation = "test-1",
  extra: Partial<TaskDefinition<FnParams>> = {},
): TaskDefinition<FnParams> {
  return {
    name,
    implementation,
    inputs: (p) => p.inputs,
    run: async (ctx, p) => (p.run ? await p.run(ctx) : undefined),
    ...extra,
  };
}

export function node(id: string, task: TaskDefinition<FnParams>, params: FnParams, group?: string): NodeSpec {
  const n: NodeSpec<FnParams> = { id, task, params };
  if (group) n.group = group;
  return n as NodeSpec;
}

export function collector(): {
  events: EngineEvent[];
  onEvent: (e: EngineEvent) => void;
  of: <T extends EngineEvent["type"]>(t: T) => Extract<EngineEvent, { type: T }>[];
} {
  const events: EngineEvent[] = [];
  return {
    events,
    onEvent: (e) => events.push(e),
    of: (t) => events.filter((e) => e.type === t) as never,
  };
}

/** Compile the child-process worker (and the engine it imports) to plain JS; returns the worker's path. */
export async function compileWorker(): Promise<{ worker: string; dir: string }> {
  const { execFileSync } = await import("node:child_process");
  const { symlinkSync, writeFileSync } = await import("node:fs");
  const root = join(import.meta.dirname, "../..");
  const out = await tempDir("mkosi-engine-worker-");
  execFileSync(
    join(root, "node_modules/.bin/tsc"),
    [
      "--ignoreConfig",
      "--outDir",
      out,
      "--rootDir",
      root,
      "--module",
      "nodenext",
      "--moduleResolution",
      "nodenext",
      "--target",
      "es2022",
      "--skipLibCheck",
      "--types",
      "node",
      join(root, "tests/engine/fixtures/worker.ts"),
    ],
    { cwd: root, stdio: "pipe" },
  );
  symlinkSync(join(root, "node_modules"), join(out, "node_modules"));
  writeFileSync(join(out, "package.json"), '{"type":"module"}');
  return { worker: join(out, "tests/engine/fixtures/worker.js"), dir: out };
}
