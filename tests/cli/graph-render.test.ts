import { execFileSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import { buildModel, explainNode, graphToJson, renderGraph } from "../../cli/graph/index.js";
import { graphJsonSchema } from "../../cli/graph/json-schema.js";
import { stripAnsi } from "../../cli/render/format.js";
import type { PlannedNode } from "../../engine/api.js";
import { multiImagePlan, run, smallPlan } from "./fixtures.js";

const ESC = "\u001b";

describe("text", () => {
  const text = renderGraph("text", multiImagePlan());
  const lines = text.split("\n");
  const line = (group: string, label: string) => {
    const start = lines.findIndex((l) => l.startsWith(`${group} `) || l === group);
    const end = lines.findIndex((l, i) => i > start && l === "");
    return lines.slice(start, end).find((l) => new RegExp(`^[├└]─ {2}${label} `).test(l)) ?? "";
  };

  test("is grouped by image in plan order, each with a summary header", () => {
    const headers = lines.filter((l) => /^(tools|main|initrd)\b/.test(l));
    expect(headers).toEqual([
      "tools · 3 cached",
      "main (needs tools) · 2 will run, 4 pending deps · ~2m 19s of work",
      "initrd (needs tools) · 2 will run, 1 pending deps, 1 missing input · ~30s of work",
    ]);
  });

  test("has no escape codes unless asked for color", () => {
    expect(text).not.toContain(ESC);
    const colored = renderGraph("text", multiImagePlan(), { color: true });
    expect(colored).toContain(`${ESC}[33m`);
    expect(stripAnsi(colored)).toBe(text);
  });

  test("shows label, short key, status, history and a one-line reason", () => {
    const l = line("main", "metadata");
    expect(l).toMatch(
      /^├─ {2}metadata +[0-9a-f]{12} {2}will run +12s +40 MB {2}\* {2}Repositories= changed: \+contrib$/,
    );
    expect(line("main", "extras")).toMatch(/will run +500ms +4\.0 kB {5}mkosi\.extra\/etc\/motd changed$/);
    expect(line("main", "bootstrap")).toContain("------------  pending deps");
    expect(line("main", "bootstrap")).toMatch(
      /upstream metadata will run: Repositories= changed: \+contrib$/,
    );
    expect(line("initrd", "packages")).toMatch(/implementation of packages changed$/);
    expect(line("initrd", "skeleton")).toMatch(/missing input {2}.*missing input: mkosi\.skeleton$/);
    expect(line("initrd", "final")).toMatch(/will run .*never built$/);
    // Cached nodes have no reason, but do show history.
    expect(line("tools", "packages")).toMatch(/cached +1m 35s +900 MB$/);
    expect(line("main", "output")).toMatch(/^└─/);
  });

  test("ends with critical path and expected time", () => {
    expect(text).toContain(
      "Critical path (*): main/metadata → main/bootstrap → main/packages → main/postinst → main/output (2m 18s)",
    );
    expect(text).toContain(
      "Expected time: 2m 18s on the critical path, 2m 49s of work in total (2 nodes have no history)",
    );
    expect(text).toContain("9 of 13 nodes to run, 3 cached, 1 missing input");
  });

  test("env and scalar reasons, single image", () => {
    const small = renderGraph("text", smallPlan());
    expect(small).toMatch(/postinst .*will run .*Release= changed: bookworm → trixie \(\+1 more\)/);
    expect(small).toContain("Critical path (*): postinst (4.1s)");
  });

  test("onlyToRun hides cached nodes and fully cached images", () => {
    const t = renderGraph("text", multiImagePlan(), { onlyToRun: true });
    expect(t).not.toMatch(/^tools/m);
    expect(t).not.toMatch(/ cached +\d/);
    expect(t).toContain("extras");
  });
});

describe("critical path", () => {
  test("follows the longest chain of nodes that will run, weighted by last durations", () => {
    const nodes: PlannedNode[] = [
      { id: "a", label: "a", task: "t", deps: [] },
      { id: "b", label: "b", task: "t", deps: ["a"] },
      { id: "c", label: "c", task: "t", deps: ["a"] },
      { id: "d", label: "d", task: "t", deps: ["b", "c"] },
    ];
    const ex = (id: string, status: "cached" | "will-run", ms: number) => ({
      id,
      label: id,
      task: "t",
      status,
      changes: [],
      firstRun: false,
      upstream: [],
      rootCauses: [],
      lastRun: run(id, ms, 1),
    });
    const model = buildModel({
      nodes,
      explanations: [
        ex("a", "cached", 100_000),
        ex("b", "will-run", 5),
        ex("c", "will-run", 50),
        ex("d", "will-run", 10),
      ],
    });
    expect(model.criticalPath).toEqual({ nodes: ["c", "d"], durationMs: 60 });
    expect(model.totalWorkMs).toBe(65);
    expect(model.toRun).toBe(3);
  });

  test("history passed separately overrides the explanation's", () => {
    const plan = smallPlan();
    const model = buildModel({
      ...plan,
      history: new Map([["main/postinst", run("main/postinst", 9000, 5)]]),
    });
    expect(model.criticalPath.durationMs).toBe(9000);
  });

  test("nothing to run, nothing on the path", () => {
    const plan = smallPlan();
    plan.explanations[1]!.status = "cached";
    const model = buildModel(plan);
    expect(model.criticalPath).toEqual({ nodes: [], durationMs: 0 });
    expect(renderGraph("text", model)).toContain("0 of 2 nodes to run, 2 cached");
  });
});

describe("--why", () => {
  test("a pending node: the chain down to the root cause with old and new values", () => {
    const r = explainNode(multiImagePlan(), "main/output");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.text).toContain("status: pending deps");
    expect(r.text).toContain(
      "Reason: upstream postinst will run ← metadata: Repositories= changed: +contrib",
    );
    expect(r.text).toContain(
      "  output ← postinst ← packages ← bootstrap ← metadata: Repositories= changed: +contrib",
    );
    expect(r.text).toContain('      old: ["main"]');
    expect(r.text).toContain('      new: ["main","contrib"]');
    expect(r.text).toContain("      added: contrib");
    expect(r.text).toContain("took 20s, output 1.1 GB");
  });

  test("a tree change: digests and per-file changes", () => {
    const r = explainNode(multiImagePlan(), "extras");
    expect(r.ok && r.text).toBeTruthy();
    if (!r.ok) return;
    expect(r.text).toContain("Changed inputs:\n  mkosi.extra (tree, modified)\n    old: ");
    expect(r.text).toContain("    modified: etc/motd");
    expect(r.text).toMatch(/key: {4}[0-9a-f]{64}/);
  });

  test("a node with two root causes lists both", () => {
    const r = explainNode(multiImagePlan(), "main/postinst");
    if (!r.ok) throw new Error(r.error);
    expect(r.text).toContain("Root causes:");
    expect(r.text).toContain("postinst ← packages ← bootstrap ← metadata: Repositories= changed: +contrib");
    expect(r.text).toContain("postinst ← extras: mkosi.extra/etc/motd changed");
  });

  test("first run and cached nodes", () => {
    const first = explainNode(multiImagePlan(), "initrd/final");
    expect(first.ok && first.text).toContain("No earlier run of this node is recorded.");
    const cached = explainNode(multiImagePlan(), "tools/final");
    expect(cached.ok && cached.text).toContain("nothing changed since it was built");
  });

  test("ambiguous and unknown names are errors with candidates", () => {
    const amb = explainNode(multiImagePlan(), "packages");
    expect(amb).toMatchObject({
      ok: false,
      candidates: ["tools/packages", "main/packages", "initrd/packages"],
    });
    const unknown = explainNode(multiImagePlan(), "post");
    expect(unknown).toMatchObject({ ok: false, candidates: ["main/postinst"] });
    if (!unknown.ok) expect(unknown.error).toContain("did you mean main/postinst?");
  });
});

describe("dot", () => {
  const dot = renderGraph("dot", multiImagePlan());

  test("is valid graphviz (dot -Tsvg)", () => {
    const svg = execFileSync("dot", ["-Tsvg"], { input: dot }).toString();
    expect(svg).toContain("<svg");
    // One cluster per image, every node drawn.
    expect(svg.match(/class="cluster"/g)).toHaveLength(3);
    expect(svg.match(/class="node"/g)).toHaveLength(13);
    expect(svg.match(/class="edge"/g)).toHaveLength(14);
  });

  test("clusters per image, colors per status, critical path bold", () => {
    expect(dot).toContain('subgraph "cluster_1" {\n    label="main";');
    expect(dot).toMatch(/"tools\/final" \[label="final\\ncached · [0-9a-f]{12}", fillcolor="#d5f5d5"/);
    expect(dot).toMatch(/"main\/metadata" \[[^\n]*fillcolor="#ffe0b2"[^\n]*penwidth=2\.5\]/);
    expect(dot).toMatch(/"initrd\/skeleton" \[[^\n]*fillcolor="#ffcdd2"/);
    expect(dot).toContain('"main/postinst" -> "main/output" [penwidth=2.5, color="#e65100"];');
    expect(dot).toContain('"tools/final" -> "main/extras";');
  });

  test("escapes quotes and backslashes in names", () => {
    const tricky = renderGraph("dot", {
      nodes: [{ id: 'a"b\\c', group: 'g"1', label: 'x"y', task: "t", deps: [] }],
      explanations: [],
    });
    expect(() => execFileSync("dot", ["-Tsvg"], { input: tricky })).not.toThrow();
  });
});

describe("json", () => {
  test("matches the documented zod schema", () => {
    const parsed = JSON.parse(renderGraph("json", multiImagePlan()));
    const result = graphJsonSchema.safeParse(parsed);
    expect(result.error).toBeUndefined();
    expect(result.success).toBe(true);
  });

  test("carries status, reason, changes, edges and the critical path", () => {
    const json = graphToJson(buildModel(multiImagePlan()));
    expect(json.schemaVersion).toBe(2);
    expect(json.groups.map((g) => g.name)).toEqual(["tools", "main", "initrd"]);
    const extras = json.nodes.find((n) => n.id === "main/extras")!;
    expect(extras).toMatchObject({
      status: "will-run",
      reason: "mkosi.extra/etc/motd changed",
      changes: [
        {
          kind: "path",
          name: "mkosi.extra",
          files: { modified: ["etc/motd"] },
          summary: "mkosi.extra/etc/motd changed",
        },
      ],
      onCriticalPath: false,
      lastRun: { durationMs: 500, bytes: 4000 },
    });
    const bootstrap = json.nodes.find((n) => n.id === "main/bootstrap")!;
    expect(bootstrap.key).toBeNull();
    expect(bootstrap.rootCauses[0]!.chain).toEqual(["main/bootstrap", "main/metadata"]);
    expect(json.edges).toContainEqual({ from: "main/packages", to: "main/postinst" });
    expect(json.edges).toHaveLength(14);
    expect(json.criticalPath.nodes).toEqual([
      "main/metadata",
      "main/bootstrap",
      "main/packages",
      "main/postinst",
      "main/output",
    ]);
    expect(json.expected).toEqual({
      nodesToRun: 9,
      criticalPathMs: 138_100,
      totalWorkMs: 168_600,
      withoutHistory: ["initrd/env", "initrd/final"],
    });
  });

  test("the schema rejects a wrong shape", () => {
    const parsed = JSON.parse(renderGraph("json", smallPlan()));
    parsed.nodes[0].status = "maybe";
    expect(graphJsonSchema.safeParse(parsed).success).toBe(false);
  });
});

describe("mermaid", () => {
  const m = renderGraph("mermaid", multiImagePlan());
  test("a flowchart with one subgraph per image and classed nodes", () => {
    const lines = m.trim().split("\n");
    expect(lines[0]).toBe("flowchart LR");
    expect(lines.filter((l) => /^ {2}subgraph g\d+\["(tools|main|initrd)"\]$/.test(l))).toHaveLength(3);
    expect(lines.filter((l) => l === "  end")).toHaveLength(3);
    expect(m).toMatch(/n3\["metadata<br\/>will run [0-9a-f]{12}"\]:::willRun/);
    expect(m).toContain('n4["bootstrap<br/>pending deps"]:::pendingDeps');
    expect(m).toContain("classDef missingInput fill:#ffcdd2");
    // 14 edges, the critical ones thick.
    expect(lines.filter((l) => /^ {2}n\d+ (-->|==>) n\d+$/.test(l))).toHaveLength(14);
    expect(m).toContain("n7 ==> n8");
    // Every referenced node id is declared.
    const declared = new Set([...m.matchAll(/^ {4}(n\d+)\[/gm)].map((x) => x[1]));
    for (const [, a, b] of m.matchAll(/^ {2}(n\d+) (?:-->|==>) (n\d+)$/gm)) {
      expect(declared.has(a)).toBe(true);
      expect(declared.has(b)).toBe(true);
    }
  });

  test("escapes quotes in labels", () => {
    const t = renderGraph("mermaid", {
      nodes: [{ id: "x", group: "g", label: 'a"b<c>', task: "t", deps: [] }],
      explanations: [],
    });
    expect(t).toContain('["a#quot;b#lt;c#gt;<br/>unknown"]');
  });
});
