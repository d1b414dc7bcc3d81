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
  version = 1,
  extra: Partial<TaskDefinition<FnParams>> = {},
): TaskDefinition<FnParams> {
  return {
    name,
    version,
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
