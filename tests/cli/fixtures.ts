// Synthetic plans, explanations and event sequences for the renderer tests.

import type {
  EngineEvent,
  InputChange,
  NodeExplanation,
  NodeId,
  PlannedNode,
  RunRecord,
} from "../../engine/api.js";

export function hex(seed: string): string {
  let out = "";
  let h = 2166136261;
  while (out.length < 64) {
    for (const ch of seed + out.length) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
    out += h.toString(16).padStart(8, "0");
  }
  return out.slice(0, 64);
}

export function run(id: string, durationMs: number, bytes: number): RunRecord {
  return {
    key: hex(`old-key-${id}`),
    digest: hex(`old-digest-${id}`),
    durationMs,
    bytes,
    finishedAt: 1_700_000_000_000,
  };
}

function node(id: NodeId, task: string, deps: NodeId[]): PlannedNode {
  const [group, label] = id.split("/") as [string, string];
  return { id, group, label, task, deps };
}

function explanation(
  p: PlannedNode,
  status: NodeExplanation["status"],
  rest: Partial<NodeExplanation> = {},
): NodeExplanation {
  return {
    id: p.id,
    group: p.group,
    label: p.label,
    task: p.task,
    status,
    key: status === "pending-deps" ? undefined : hex(`key-${p.id}`),
    changes: [],
    firstRun: false,
    upstream: [],
    rootCauses: [],
    ...rest,
  };
}

export const repositoriesChange: InputChange = {
  kind: "value",
  name: "Repositories",
  change: "modified",
  old: ["main"],
  new: ["main", "contrib"],
};

export const packagesChange: InputChange = {
  kind: "value",
  name: "Packages",
  change: "modified",
  old: ["systemd", "nano"],
  new: ["systemd", "nano", "vim"],
};

export const extraChange: InputChange = {
  kind: "path",
  name: "mkosi.extra",
  change: "modified",
  old: hex("extra-old"),
  new: hex("extra-new"),
  files: { added: [], removed: [], modified: ["etc/motd"] },
};

/** Three images: a cached tools tree, "main" where repository metadata changed (so most of it waits on
 * metadata) and mkosi.extra changed, and "initrd" with a change of its task implementation, an env change, a first
 * run and a missing input. */
export function multiImagePlan(): { nodes: PlannedNode[]; explanations: NodeExplanation[] } {
  const nodes = [
    node("tools/metadata", "metadata", []),
    node("tools/packages", "packages", ["tools/metadata"]),
    node("tools/final", "finalize", ["tools/packages"]),
    node("main/metadata", "metadata", ["tools/final"]),
    node("main/bootstrap", "bootstrap", ["main/metadata", "tools/final"]),
    node("main/packages", "packages", ["main/bootstrap"]),
    node("main/extras", "extras", ["tools/final"]),
    node("main/postinst", "postinst", ["main/packages", "main/extras"]),
    node("main/output", "output", ["main/postinst"]),
    node("initrd/packages", "packages", ["tools/final"]),
    node("initrd/env", "config-writes", ["initrd/packages"]),
    node("initrd/skeleton", "skeleton", []),
    node("initrd/final", "output", ["initrd/env", "initrd/skeleton"]),
  ];
  const by = new Map(nodes.map((n) => [n.id, n]));
  const p = (id: string) => by.get(id)!;
  const explanations: NodeExplanation[] = [
    explanation(p("tools/metadata"), "cached", { lastRun: run("tools/metadata", 3_000, 20_000_000) }),
    explanation(p("tools/packages"), "cached", { lastRun: run("tools/packages", 95_000, 900_000_000) }),
    explanation(p("tools/final"), "cached", { lastRun: run("tools/final", 2_000, 900_000_000) }),
    explanation(p("main/metadata"), "will-run", {
      changes: [repositoriesChange],
      rootCauses: [{ chain: ["main/metadata"], changes: [repositoriesChange] }],
      lastRun: run("main/metadata", 12_000, 40_000_000),
    }),
    explanation(p("main/bootstrap"), "pending-deps", {
      upstream: ["main/metadata"],
      rootCauses: [{ chain: ["main/bootstrap", "main/metadata"], changes: [repositoriesChange] }],
      lastRun: run("main/bootstrap", 40_000, 300_000_000),
    }),
    explanation(p("main/packages"), "pending-deps", {
      upstream: ["main/bootstrap"],
      rootCauses: [
        { chain: ["main/packages", "main/bootstrap", "main/metadata"], changes: [repositoriesChange] },
      ],
      lastRun: run("main/packages", 62_000, 820_000_000),
    }),
    explanation(p("main/extras"), "will-run", {
      changes: [extraChange],
      rootCauses: [{ chain: ["main/extras"], changes: [extraChange] }],
      lastRun: run("main/extras", 500, 4_000),
    }),
    explanation(p("main/postinst"), "pending-deps", {
      upstream: ["main/packages", "main/extras"],
      rootCauses: [
        {
          chain: ["main/postinst", "main/packages", "main/bootstrap", "main/metadata"],
          changes: [repositoriesChange],
        },
        { chain: ["main/postinst", "main/extras"], changes: [extraChange] },
      ],
      lastRun: run("main/postinst", 4_100, 2_000_000),
    }),
    explanation(p("main/output"), "pending-deps", {
      upstream: ["main/postinst"],
      rootCauses: [
        {
          chain: ["main/output", "main/postinst", "main/packages", "main/bootstrap", "main/metadata"],
          changes: [repositoriesChange],
        },
      ],
      lastRun: run("main/output", 20_000, 1_100_000_000),
    }),
    explanation(p("initrd/packages"), "will-run", {
      changes: [
        {
          kind: "task",
          name: "implementation",
          task: "packages",
          change: "modified",
          old: "3a1f",
          new: "4b2e",
        },
      ],
      lastRun: run("initrd/packages", 30_000, 150_000_000),
    }),
    explanation(p("initrd/env"), "pending-deps", {
      upstream: ["initrd/packages"],
      rootCauses: [
        {
          chain: ["initrd/env", "initrd/packages"],
          changes: [
            {
              kind: "task",
              name: "implementation",
              task: "packages",
              change: "modified",
              old: "3a1f",
              new: "4b2e",
            },
          ],
        },
      ],
    }),
    explanation(p("initrd/skeleton"), "missing-input", {
      changes: [{ kind: "path", name: "mkosi.skeleton", change: "removed", old: hex("skel") }],
    }),
    explanation(p("initrd/final"), "will-run", { firstRun: true }),
  ];
  return { nodes, explanations };
}

/** A plan where one node will run because an env value and a scalar setting changed. */
export function smallPlan(): { nodes: PlannedNode[]; explanations: NodeExplanation[] } {
  const nodes = [node("main/packages", "packages", []), node("main/postinst", "postinst", ["main/packages"])];
  const explanations: NodeExplanation[] = [
    explanation(nodes[0]!, "cached", { lastRun: run("main/packages", 62_000, 820_000_000) }),
    explanation(nodes[1]!, "will-run", {
      changes: [
        { kind: "env", name: "SOURCE_DATE_EPOCH", change: "modified", old: "1700000000", new: "1700000100" },
        { kind: "value", name: "Release", change: "modified", old: "bookworm", new: "trixie" },
      ],
      lastRun: run("main/postinst", 4_100, 2_000_000),
    }),
  ];
  return { nodes, explanations };
}

// ---------------------------------------------------------------------------------------------
// Event sequences.

export const T0 = 1_700_000_000_000;

/** Two images building in parallel: cached nodes, a node with output and progress, an early cutoff
 * (finished with unchangedOutput, so its dependant is cached), a failure and a skipped dependant. */
export function failingBuildEvents(): EngineEvent[] {
  const planned: PlannedNode[] = [
    node("main/metadata", "metadata", []),
    node("main/packages", "packages", ["main/metadata"]),
    node("main/postinst", "postinst", ["main/packages"]),
    node("main/output", "output", ["main/postinst"]),
    node("initrd/packages", "packages", ["main/metadata"]),
    node("initrd/output", "output", ["initrd/packages"]),
  ];
  const startedExplanation = (id: string, changes: InputChange[]): NodeExplanation => {
    const p = planned.find((n) => n.id === id)!;
    return explanation(p, "will-run", { changes, rootCauses: [{ chain: [id], changes }] });
  };
  return [
    { type: "planned", time: T0, nodes: planned },
    { type: "cached", time: T0 + 5, id: "main/metadata", key: hex("k1"), digest: hex("d1"), savedMs: 12_000 },
    {
      type: "started",
      time: T0 + 10,
      id: "main/packages",
      key: hex("k2"),
      explanation: startedExplanation("main/packages", [packagesChange]),
    },
    {
      type: "started",
      time: T0 + 12,
      id: "initrd/packages",
      key: hex("k3"),
      explanation: startedExplanation("initrd/packages", [
        { kind: "env", name: "SOURCE_DATE_EPOCH", change: "modified", old: "1", new: "2" },
      ]),
    },
    {
      type: "progress",
      time: T0 + 100,
      id: "main/packages",
      update: { current: 3, total: 10, unit: "packages" },
    },
    { type: "log", time: T0 + 110, id: "main/packages", stream: "stdout", line: "Unpacking vim (2:9.0) ..." },
    {
      type: "log",
      time: T0 + 120,
      id: "initrd/packages",
      stream: "stderr",
      line: "\u001b[31mwarning\u001b[0m: slow mirror",
    },
    {
      type: "progress",
      time: T0 + 1500,
      id: "main/packages",
      update: { current: 10, total: 10, unit: "packages", message: "Configuring" },
    },
    {
      type: "finished",
      time: T0 + 2010,
      id: "main/packages",
      key: hex("k2"),
      digest: hex("d2"),
      durationMs: 2000,
      bytes: 820_000_000,
      unchangedOutput: false,
    },
    {
      type: "finished",
      time: T0 + 2512,
      id: "initrd/packages",
      key: hex("k3"),
      digest: hex("d3"),
      durationMs: 2500,
      bytes: 150_000_000,
      unchangedOutput: true,
    },
    {
      type: "cached",
      time: T0 + 2520,
      id: "initrd/output",
      key: hex("k4"),
      digest: hex("d4"),
      savedMs: 20_000,
    },
    {
      type: "started",
      time: T0 + 2530,
      id: "main/postinst",
      key: hex("k5"),
      explanation: {
        ...startedExplanation("main/postinst", [
          { kind: "dep", name: "packages", change: "modified", old: hex("d2-old"), new: hex("d2") },
        ]),
        rootCauses: [{ chain: ["main/postinst", "main/packages"], changes: [packagesChange] }],
      },
    },
    { type: "log", time: T0 + 2600, id: "main/postinst", stream: "stdout", line: "Running mkosi.postinst" },
    {
      type: "log",
      time: T0 + 2700,
      id: "main/postinst",
      stream: "stderr",
      line: "cp: cannot stat 'foo': No such file",
    },
    {
      type: "failed",
      time: T0 + 3530,
      id: "main/postinst",
      error: {
        message: "mkosi.postinst failed",
        command: ["/work/scripts/mkosi.postinst", "final"],
        exitCode: 1,
        logTail: ["Running mkosi.postinst", "cp: cannot stat 'foo': No such file"],
        logFile: "/var/cache/mkosi/logs/main-postinst.log",
      },
    },
    {
      type: "skipped",
      time: T0 + 3531,
      id: "main/output",
      reason: "dependency-failed",
      cause: "main/postinst",
    },
    { type: "done", time: T0 + 3600, ok: false, ran: 3, cached: 2, failed: 1, savedMs: 32_000 },
  ];
}

/** A successful build: everything cached except one node. */
export function successfulBuildEvents(): EngineEvent[] {
  const planned: PlannedNode[] = [
    node("main/packages", "packages", []),
    node("main/extras", "extras", []),
    node("main/output", "output", ["main/packages", "main/extras"]),
  ];
  return [
    { type: "planned", time: T0, nodes: planned },
    { type: "cached", time: T0 + 1, id: "main/packages", key: hex("a"), digest: hex("b"), savedMs: 62_000 },
    {
      type: "started",
      time: T0 + 2,
      id: "main/extras",
      key: hex("c"),
      explanation: explanation(planned[1]!, "will-run", { changes: [extraChange] }),
    },
    {
      type: "finished",
      time: T0 + 302,
      id: "main/extras",
      key: hex("c"),
      digest: hex("d"),
      durationMs: 300,
      bytes: 4_000,
      unchangedOutput: true,
    },
    { type: "cached", time: T0 + 303, id: "main/output", key: hex("e"), digest: hex("f"), savedMs: 20_000 },
    { type: "done", time: T0 + 310, ok: true, ran: 1, cached: 2, failed: 0, savedMs: 82_000 },
  ];
}
