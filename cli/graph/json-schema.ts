// zod schema of `mkosi graph --format json` (schemaVersion 2). Documented in JSON.md. Consumers and
// tests validate against it; the renderer itself (json.ts) does not load zod.

import { z } from "zod";

const json: z.ZodType<unknown> = z.lazy(() =>
  z.union([z.null(), z.boolean(), z.number(), z.string(), z.array(json), z.record(z.string(), json)]),
);

export const graphJsonChangeSchema = z.strictObject({
  kind: z.enum(["task", "value", "secret", "path", "order", "env", "dep"]),
  name: z.string(),
  task: z.string().nullable(),
  change: z.enum(["added", "removed", "modified"]),
  old: json,
  new: json,
  files: z
    .strictObject({ added: z.array(z.string()), removed: z.array(z.string()), modified: z.array(z.string()) })
    .nullable(),
  summary: z.string(),
});

export const runRecordSchema = z.strictObject({
  key: z.string(),
  digest: z.string(),
  durationMs: z.number().nonnegative(),
  bytes: z.number().nonnegative(),
  finishedAt: z.number(),
});

export const graphJsonNodeSchema = z.strictObject({
  id: z.string(),
  group: z.string(),
  label: z.string(),
  task: z.string(),
  deps: z.array(z.string()),
  status: z.enum(["cached", "remote", "will-run", "pending-deps", "missing-input", "unknown"]),
  key: z.string().nullable(),
  reason: z.string(),
  firstRun: z.boolean(),
  changes: z.array(graphJsonChangeSchema),
  upstream: z.array(z.string()),
  rootCauses: z.array(
    z.strictObject({ chain: z.array(z.string()).min(1), changes: z.array(graphJsonChangeSchema) }),
  ),
  lastRun: runRecordSchema.nullable(),
  remote: z
    .strictObject({ bytes: z.number().nonnegative(), unpackedBytes: z.number().nonnegative() })
    .nullable(),
  onCriticalPath: z.boolean(),
});

export const graphJsonSchema = z.strictObject({
  schemaVersion: z.literal(2),
  groups: z.array(z.strictObject({ name: z.string(), nodes: z.array(z.string()) })),
  nodes: z.array(graphJsonNodeSchema),
  edges: z.array(z.strictObject({ from: z.string(), to: z.string() })),
  criticalPath: z.strictObject({ nodes: z.array(z.string()), durationMs: z.number().nonnegative() }),
  expected: z.strictObject({
    nodesToRun: z.number().int().nonnegative(),
    criticalPathMs: z.number().nonnegative(),
    totalWorkMs: z.number().nonnegative(),
    withoutHistory: z.array(z.string()),
  }),
});

export type GraphJsonFromSchema = z.infer<typeof graphJsonSchema>;
