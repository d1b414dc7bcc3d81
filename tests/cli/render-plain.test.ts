import { describe, expect, test } from "vitest";
import { formatBytes, formatDuration, formatProgress } from "../../cli/render/format.js";
import {
  createRenderer,
  formatFailure,
  JsonRenderer,
  PlainRenderer,
  parseJsonEvents,
  renderExplain,
  replay,
  resolveMode,
} from "../../cli/render/index.js";
import type { EngineEvent } from "../../engine/api.js";
import { failingBuildEvents, multiImagePlan, successfulBuildEvents, T0 } from "./fixtures.js";
import { FakeStream } from "./helpers.js";

async function plain(events: EngineEvent[]): Promise<string> {
  const s = new FakeStream();
  await replay(new PlainRenderer(s), events);
  return s.text;
}

describe("plain log", () => {
  test("BuildKit-style lines numbered in first-seen order, failures and a summary", async () => {
    expect(await plain(failingBuildEvents())).toBe(
      [
        "#1 [main] metadata CACHED",
        "#2 [main] packages RUNNING (Packages= changed: +vim)",
        "#3 [initrd] packages RUNNING (env SOURCE_DATE_EPOCH changed)",
        "#2 [main] packages 3/10 (30%) packages",
        "#2 [main] packages: Unpacking vim (2:9.0) ...",
        "#3 [initrd] packages: warning: slow mirror",
        "#2 [main] packages 10/10 (100%) packages · Configuring",
        "#2 [main] packages DONE 2.0s (820 MB)",
        "#3 [initrd] packages DONE 2.5s (150 MB, output unchanged)",
        "#4 [initrd] output CACHED",
        "#5 [main] postinst RUNNING (upstream packages output changed)",
        "#5 [main] postinst: Running mkosi.postinst",
        "#5 [main] postinst: cp: cannot stat 'foo': No such file",
        "#5 [main] postinst ERROR after 1.0s: exit status 1",
        "#6 [main] output SKIPPED ([main] postinst failed)",
        "",
        "ERROR: [main] postinst: mkosi.postinst failed",
        "  command: /work/scripts/mkosi.postinst final",
        "  exit status: 1",
        "  last 2 lines of output:",
        "    │ Running mkosi.postinst",
        "    │ cp: cannot stat 'foo': No such file",
        "  full log: /var/cache/mkosi/logs/main-postinst.log",
        "",
        "Build failed after 3.6s: 3 nodes run, 2 cached (saved 32s), 1 failed, 1 skipped",
        "",
      ].join("\n"),
    );
  });

  test("no escape codes, even when a script prints them", async () => {
    const text = await plain(failingBuildEvents());
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
  });

  test("a successful build: cutoff noted, summary with time saved", async () => {
    const text = await plain(successfulBuildEvents());
    expect(text).toContain("#2 [main] extras DONE 300ms (4.0 kB, output unchanged)");
    expect(text).toContain("#3 [main] output CACHED");
    expect(text.trimEnd().split("\n").at(-1)).toBe(
      "Build finished in 310ms: 1 node run, 2 cached (saved 1m 22s)",
    );
  });

  test("progress lines are throttled per node in event time", async () => {
    const events: EngineEvent[] = [
      { type: "planned", time: T0, nodes: [{ id: "m/p", group: "m", label: "p", task: "p", deps: [] }] },
    ];
    for (let i = 0; i <= 100; i++) {
      events.push({
        type: "progress",
        time: T0 + i * 50,
        id: "m/p",
        update: { current: i, total: 100, unit: "bytes" },
      });
    }
    const lines = (await plain(events)).split("\n").filter((l) => l.startsWith("#1"));
    // 5 s of updates every 50 ms: one line a second plus the first and the complete one.
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(lines.length).toBeLessThanOrEqual(7);
    expect(lines.at(-1)).toBe("#1 [m] p 100 B/100 B (100%)");
  });

  test("waiting, cancelled and nodes the plan did not list", async () => {
    const text = await plain([
      { type: "waiting", time: T0, id: "img/packages", on: "package-cache:/var/cache/apt" },
      { type: "skipped", time: T0 + 1, id: "img/output", reason: "cancelled" },
    ]);
    expect(text).toContain(
      "#1 [img] packages WAITING for package-cache:/var/cache/apt\n#2 [img] output SKIPPED (cancelled)\n",
    );
    // Closed before "done": still a summary.
    expect(text).toContain("Build stopped after 1ms: 0 nodes run, 0 cached, 1 skipped");
  });
});

test("notes in the plain log, sanitized; combined renderers pass them on", async () => {
  const s = new FakeStream();
  const r = await createRenderer({ mode: "plain", stream: s });
  r.note?.("warning: \u001b[1mFoo=\u001b[0m is deprecated\nsee mkosi(1)");
  expect(s.text).toBe("warning: Foo= is deprecated\nsee mkosi(1)\n");
  const j = new FakeStream();
  const jr = await createRenderer({ mode: "json", stream: j });
  jr.note?.("ignored");
  expect(j.text).toBe("");
});

describe("json events", () => {
  test("one event per line, unchanged", async () => {
    const s = new FakeStream();
    await replay(new JsonRenderer(s), failingBuildEvents());
    const lines = s.text.trimEnd().split("\n");
    expect(lines).toHaveLength(failingBuildEvents().length);
    expect(lines.map((l) => JSON.parse(l))).toEqual(failingBuildEvents());
  });

  test("JSON text sequences (RFC 7464) when asked", async () => {
    const s = new FakeStream();
    await replay(new JsonRenderer(s, { seq: true }), successfulBuildEvents());
    expect(s.text.startsWith("\u001e{")).toBe(true);
    expect(s.text.split("\u001e")).toHaveLength(successfulBuildEvents().length + 1);
    expect(parseJsonEvents(s.text)).toEqual(successfulBuildEvents());
  });
});

describe("factory", () => {
  test("auto is plain on a pipe and in CI, tty on a terminal", () => {
    expect(resolveMode({ mode: "auto", stream: new FakeStream(), env: {} })).toBe("plain");
    expect(resolveMode({ mode: "auto", stream: new FakeStream({ tty: true }), env: {} })).toBe("tty");
    expect(resolveMode({ mode: "auto", stream: new FakeStream({ tty: true }), env: { CI: "true" } })).toBe(
      "plain",
    );
    expect(resolveMode({ mode: "auto", stream: new FakeStream({ tty: true }), env: { TERM: "dumb" } })).toBe(
      "plain",
    );
    expect(resolveMode({ mode: "json", stream: new FakeStream({ tty: true }), env: {} })).toBe("json");
  });

  test("plain and json renderers from the factory", async () => {
    const s = new FakeStream();
    await replay(await createRenderer({ mode: "auto", stream: s }), successfulBuildEvents());
    expect(s.text).toContain("#1 [main] packages CACHED");
    const j = new FakeStream();
    await replay(await createRenderer({ mode: "json", stream: j }), successfulBuildEvents());
    expect(parseJsonEvents(j.text)).toEqual(successfulBuildEvents());
  });
});

describe("messages", () => {
  test("failure display without a command", () => {
    expect(
      formatFailure("[main] output", { message: "disk full", logTail: [], logFile: "/tmp/x.log" }),
    ).toEqual(["ERROR: [main] output: disk full", "  full log: /tmp/x.log"]);
    expect(
      formatFailure("x", {
        message: "m",
        command: ["sh", "-c", "echo 'hi there'"],
        exitCode: 2,
        logTail: ["a"],
        logFile: "f",
      }),
    ).toEqual([
      "ERROR: x: m",
      `  command: sh -c 'echo '\\''hi there'\\'''`,
      "  exit status: 2",
      "  last line of output:",
      "    │ a",
      "  full log: f",
    ]);
  });

  test("--explain lists what will run and why, reusing reasonLine", () => {
    const { nodes, explanations } = multiImagePlan();
    const text = renderExplain(explanations, { nodes });
    const lines = text.trimEnd().split("\n");
    expect(lines[0]).toBe("10 of 13 nodes will run or may run:");
    expect(lines).toContain("  [main] metadata    will run       Repositories= changed: +contrib");
    expect(lines).toContain("  [initrd] final     will run       never built");
    expect(lines).toContain(
      "  [main] bootstrap   pending deps   upstream metadata will run: Repositories= changed: +contrib",
    );
    expect(lines.at(-1)).toBe("3 nodes cached.");
    expect(text).not.toContain("\u001b");
  });

  test("--explain when everything is cached", () => {
    const { nodes, explanations } = multiImagePlan();
    for (const e of explanations) e.status = "cached";
    expect(renderExplain(explanations, { nodes })).toBe("Nothing to do: all 13 nodes cached.\n");
  });

  test("durations, sizes and progress", () => {
    expect([350, 1200, 12_300, 62_000, 3_720_000].map(formatDuration)).toEqual([
      "350ms",
      "1.2s",
      "12s",
      "1m 02s",
      "1h 02m",
    ]);
    expect([512, 1200, 820_000_000, 2_500_000_000].map(formatBytes)).toEqual([
      "512 B",
      "1.2 kB",
      "820 MB",
      "2.5 GB",
    ]);
    expect(formatProgress({ current: 3, total: 12, unit: "packages", message: "Downloading" })).toBe(
      "3/12 (25%) packages · Downloading",
    );
    expect(formatProgress({ message: "Resolving" })).toBe("Resolving");
  });
});
