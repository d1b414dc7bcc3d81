// Remote cache events in the renderers: pulls and pushes with bytes in the plain log and the summary, the
// warning line, and the build state's counts.
import { describe, expect, test } from "vitest";
import { stripAnsi } from "../../cli/render/format.js";
import { BuildState, PlainRenderer, replay } from "../../cli/render/index.js";
import type { EngineEvent } from "../../engine/api.js";
import { FakeStream } from "./helpers.js";

const T = 1_800_000_000_000;
const K = "a".repeat(64);

function events(): EngineEvent[] {
  return [
    {
      type: "planned",
      time: T,
      nodes: [
        { id: "main/bootstrap", group: "main", label: "bootstrap", task: "bootstrap", deps: [] },
        { id: "main/extras", group: "main", label: "extras", task: "extras", deps: ["main/bootstrap"] },
      ],
    },
    { type: "warning", time: T + 1, message: "remote cache https://r/x: blob sha256:1 does not match" },
    { type: "pulling", time: T + 2, id: "main/bootstrap", key: K, bytes: 39_000_000 },
    {
      type: "progress",
      time: T + 3,
      id: "main/bootstrap",
      update: { message: "pulling", current: 20_000_000, total: 39_000_000, unit: "bytes" },
    },
    { type: "pulled", time: T + 2900, id: "main/bootstrap", key: K, bytes: 39_000_000, durationMs: 2898 },
    { type: "cached", time: T + 2901, id: "main/bootstrap", key: K, digest: K, savedMs: 88_000 },
    {
      type: "started",
      time: T + 2902,
      id: "main/extras",
      key: K,
      explanation: {
        id: "main/extras",
        label: "extras",
        task: "extras",
        status: "will-run",
        changes: [],
        firstRun: true,
        upstream: [],
        rootCauses: [],
        reason: "first-run",
      },
    },
    {
      type: "finished",
      time: T + 3100,
      id: "main/extras",
      key: K,
      digest: K,
      durationMs: 198,
      bytes: 20_000,
      unchangedOutput: false,
    },
    { type: "pushing", time: T + 3101, id: "main/extras", key: K },
    { type: "pushed", time: T + 3500, id: "main/extras", key: K, bytes: 3_300, durationMs: 399 },
    {
      type: "done",
      time: T + 3600,
      ok: true,
      ran: 1,
      cached: 1,
      failed: 0,
      savedMs: 88_000,
      pulled: 1,
      pushed: 1,
    },
  ];
}

describe("remote cache events", () => {
  test("plain log: pulls, pushes and warnings with bytes, and the summary counts them", async () => {
    const s = new FakeStream();
    await replay(new PlainRenderer(s, { progressIntervalMs: 0 }), events());
    expect(s.text.split("\n")).toEqual([
      "WARNING: remote cache https://r/x: blob sha256:1 does not match",
      "#1 [main] bootstrap PULLING 39 MB",
      "#1 [main] bootstrap 20 MB/39 MB (51%) · pulling",
      "#1 [main] bootstrap PULLED 39 MB in 2.9s",
      "#2 [main] extras RUNNING (never built)",
      "#2 [main] extras DONE 198ms (20 kB)",
      "#2 [main] extras PUSHING",
      "#2 [main] extras PUSHED 3.3 kB in 399ms",
      "",
      "Build finished in 3.6s: 1 node run, 1 cached (saved 1m 28s), 1 pulled (39 MB), 1 pushed (3.3 kB)",
      "",
    ]);
  });

  test("build state: a pulling node is live, then cached with what it pulled", () => {
    const state = new BuildState();
    const all = events();
    for (const e of all.slice(0, 3)) state.apply(e);
    expect(state.counts().pulling).toBe(1);
    expect(state.warnings).toHaveLength(1);
    for (const e of all.slice(3)) state.apply(e);
    expect(state.node("main/bootstrap")).toMatchObject({ state: "cached", pulled: { bytes: 39_000_000 } });
    expect(state.transfers()).toEqual({ pulled: 1, pulledBytes: 39_000_000, pushed: 1, pushedBytes: 3_300 });
    expect(state.pushing).toBe(0);
  });

  test("terminal view: a pulling node is live with its bytes, then a finished line says what was pulled", async () => {
    const { renderFrame } = await import("../../cli/render/ink/renderer.js");
    const all = events();
    const state = new BuildState();
    for (const e of all.slice(0, 4)) state.apply(e);
    const live = stripAnsi(renderFrame(state, { now: T + 1000 }));
    expect(live).toMatch(/bootstrap 998ms 20 MB\/39 MB \(51%\) · pulling/);
    expect(live).toMatch(/1 pulling/);
    for (const e of all.slice(4)) state.apply(e);
    const done = stripAnsi(renderFrame(state, { now: T + 4000 }));
    expect(done).toMatch(/◦ \[main\] bootstrap pulled 39 MB in 2\.9s/);
    expect(done).toMatch(/1 pulled \(39 MB\), 1 pushed \(3\.3 kB\)/);
  });
});
