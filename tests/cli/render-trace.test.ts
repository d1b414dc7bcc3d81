import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  createRenderer,
  replay,
  TraceBuilder,
  type TraceEvent,
  type TraceFile,
} from "../../cli/render/index.js";
import type { EngineEvent } from "../../engine/api.js";
import { failingBuildEvents, hex, T0 } from "./fixtures.js";
import { FakeStream } from "./helpers.js";

function processNames(trace: TraceFile): Map<number, string> {
  return new Map(
    trace.traceEvents
      .filter((e) => e.ph === "M" && e.name === "process_name")
      .map((e) => [e.pid, String((e.args as { name: string }).name)]),
  );
}

describe("chrome trace", () => {
  test("--trace FILE next to the plain log: complete events per node, pid per image, instants for cache hits", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mkosi-trace-"));
    const file = join(dir, "trace.json");
    const s = new FakeStream();
    await replay(await createRenderer({ mode: "plain", stream: s, traceFile: file }), failingBuildEvents());
    expect(s.text).toContain("#1 [main] metadata CACHED");

    const trace = JSON.parse(readFileSync(file, "utf8")) as TraceFile;
    expect(trace.displayTimeUnit).toBe("ms");
    expect(trace.otherData).toMatchObject({ ok: false, ran: 3, cached: 2, failed: 1, savedMs: 32_000 });
    for (const e of trace.traceEvents) {
      expect(["X", "i", "M"]).toContain(e.ph);
      expect(Number.isInteger(e.ts) && e.ts >= 0).toBe(true);
      expect(Number.isInteger(e.pid) && Number.isInteger(e.tid)).toBe(true);
    }
    const names = processNames(trace);
    expect([...names.values()]).toEqual(["main", "initrd"]);
    const pidOf = (group: string) => [...names].find(([, n]) => n === group)![0];

    const complete = trace.traceEvents.filter((e) => e.ph === "X");
    const byId = new Map(complete.map((e) => [(e.args as { id: string }).id, e]));
    expect([...byId.keys()].sort()).toEqual(["initrd/packages", "main/packages", "main/postinst"]);
    expect(byId.get("main/packages")).toMatchObject({
      name: "packages",
      cat: "run",
      ts: 10_000,
      dur: 2_000_000,
      pid: pidOf("main"),
    });
    expect(byId.get("initrd/packages")).toMatchObject({ ts: 12_000, dur: 2_500_000, pid: pidOf("initrd") });
    expect(byId.get("initrd/packages")!.args).toMatchObject({ unchangedOutput: true, bytes: 150_000_000 });
    expect(byId.get("main/postinst")).toMatchObject({ cat: "failed", ts: 2_530_000, dur: 1_000_000 });
    expect(byId.get("main/postinst")!.args).toMatchObject({
      exitCode: 1,
      logFile: "/var/cache/mkosi/logs/main-postinst.log",
    });
    // Running nodes are on lanes >= 1; lane 0 holds instants.
    for (const e of complete) expect(e.tid).toBeGreaterThanOrEqual(1);

    const instants = trace.traceEvents.filter((e) => e.ph === "i");
    expect(instants.map((e) => [e.name, e.cat, e.tid, e.s])).toEqual([
      ["metadata (cached)", "cached", 0, "t"],
      ["output (cached)", "cached", 0, "t"],
      ["output (skipped)", "skipped", 0, "t"],
    ]);
    expect(instants[0]).toMatchObject({ ts: 5_000, pid: pidOf("main") });
    expect(instants[1]!.pid).toBe(pidOf("initrd"));
  });

  test("concurrent nodes of one image get separate lanes, which are reused when free", () => {
    const ids = ["img/a", "img/b", "img/c"];
    const events: EngineEvent[] = [
      {
        type: "planned",
        time: T0,
        nodes: ids.map((id) => ({ id, group: "img", label: id.slice(4), task: "t", deps: [] })),
      },
    ];
    const expl = (id: string) => ({
      id,
      label: id,
      task: "t",
      status: "will-run" as const,
      changes: [],
      firstRun: true,
      upstream: [],
      rootCauses: [],
    });
    const started = (id: string, t: number): EngineEvent => ({
      type: "started",
      time: T0 + t,
      id,
      key: hex(id),
      explanation: expl(id),
    });
    const finished = (id: string, t: number, d: number): EngineEvent => ({
      type: "finished",
      time: T0 + t,
      id,
      key: hex(id),
      digest: hex(`d${id}`),
      durationMs: d,
      bytes: 1,
      unchangedOutput: false,
    });
    events.push(
      started("img/a", 0),
      started("img/b", 10),
      finished("img/a", 100, 100),
      started("img/c", 150),
    );
    events.push(finished("img/b", 200, 190), finished("img/c", 300, 150));
    const builder = new TraceBuilder();
    for (const e of events) builder.add(e);
    const x = builder.toJson().traceEvents.filter((e): e is TraceEvent => e.ph === "X");
    const tid = (label: string) => x.find((e) => e.name === label)!.tid;
    expect(tid("a")).not.toBe(tid("b"));
    expect(tid("c")).toBe(tid("a"));
    // Events on one lane never overlap.
    for (const a of x) {
      for (const b of x) {
        if (a === b || a.tid !== b.tid || a.pid !== b.pid) continue;
        expect(a.ts + a.dur! <= b.ts || b.ts + b.dur! <= a.ts).toBe(true);
      }
    }
    const threadNames = builder
      .toJson()
      .traceEvents.filter((e) => e.ph === "M" && e.name === "thread_name")
      .map((e) => (e.args as { name: string }).name);
    expect(threadNames).toEqual(["cache hits", "lane 1", "lane 2"]);
  });

  test("a node still running when the trace is written is closed at the last event", () => {
    const builder = new TraceBuilder();
    builder.add({
      type: "planned",
      time: T0,
      nodes: [{ id: "m/x", group: "m", label: "x", task: "t", deps: [] }],
    });
    builder.add({
      type: "started",
      time: T0 + 5,
      id: "m/x",
      key: "k",
      explanation: {
        id: "m/x",
        label: "x",
        task: "t",
        status: "will-run",
        changes: [],
        firstRun: true,
        upstream: [],
        rootCauses: [],
      },
    });
    builder.add({ type: "log", time: T0 + 50, id: "m/x", stream: "stdout", line: "hello" });
    const x = builder.toJson().traceEvents.find((e) => e.ph === "X")!;
    expect(x).toMatchObject({ name: "x", cat: "unfinished", ts: 5000, dur: 45_000 });
  });
});
