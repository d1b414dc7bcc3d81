// The ink view: rendered for real (ink's render() with a fake terminal stream), and frame by frame
// through renderToString for exact layout checks.

// ink decides at import time whether it runs in CI (then it draws only the last frame); this test
// checks live frames, so it must see a terminal. ink is imported dynamically below, after this.
delete process.env.CI;
delete process.env.CONTINUOUS_INTEGRATION;

import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { stripAnsi } from "../../cli/render/format.js";
import { BuildState, createRenderer } from "../../cli/render/index.js";
import type { EngineEvent } from "../../engine/api.js";
import { failingBuildEvents, hex, successfulBuildEvents, T0 } from "./fixtures.js";
import { FakeStream, sleep } from "./helpers.js";

const { renderFrame, InkRenderer } = await import("../../cli/render/ink/renderer.js");

function stateAfter(events: EngineEvent[], count: number): BuildState {
  const state = new BuildState({ logTailLines: 3 });
  for (const e of events.slice(0, count)) state.apply(e);
  return state;
}

const indexOf = (type: string, id?: string) =>
  failingBuildEvents().findIndex((e) => e.type === type && (id === undefined || ("id" in e && e.id === id)));

describe("frames", () => {
  test("mid-build: finished lines, running nodes grouped by image with spinner, elapsed, progress and output", () => {
    const events = failingBuildEvents();
    const state = stateAfter(events, indexOf("progress") + 3); // up to the initrd log line
    const frame = stripAnsi(renderFrame(state, { now: T0 + 1010 }));
    const lines = frame.split("\n");
    expect(lines[0]).toBe("◦ [main] metadata cached");
    expect(lines[1]).toBe("main 1/4");
    expect(lines[2]).toMatch(
      /^ {2}[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] packages 1\.0s 3\/10 \(30%\) packages Packages= changed: \+vim$/,
    );
    expect(lines[3]).toBe("    │ Unpacking vim (2:9.0) ...");
    expect(lines[4]).toBe("initrd 0/2");
    expect(lines[5]).toMatch(/^ {2}. packages 998ms env SOURCE_DATE_EPOCH changed$/);
    // Escape sequences in script output are removed, not passed to the terminal.
    expect(lines[6]).toBe("    │ warning: slow mirror");
    expect(lines[7]).toBe("2 running · 3 queued · 0 done · 1 cached · 1.0s");
  });

  test("finished nodes show duration, size and cutoff; failures and summary at the end", () => {
    const events = failingBuildEvents();
    const frame = stripAnsi(renderFrame(stateAfter(events, events.length), { now: T0 + 4000 }));
    expect(frame).toContain("✔ [main] packages 2.0s · 820 MB Packages= changed: +vim");
    expect(frame).toContain(
      "✔ [initrd] packages 2.5s · 150 MB · output unchanged env SOURCE_DATE_EPOCH changed",
    );
    expect(frame).toContain("✘ [main] postinst failed after 1.0s: exit status 1");
    expect(frame).toContain("- [main] output skipped (main/postinst failed)");
    expect(frame).toContain("ERROR: [main] postinst: mkosi.postinst failed");
    expect(frame).toContain("  command: /work/scripts/mkosi.postinst final");
    expect(frame).toContain("    │ cp: cannot stat 'foo': No such file");
    expect(frame).toContain("  full log: /var/cache/mkosi/logs/main-postinst.log");
    expect(frame.trimEnd().split("\n").at(-1)).toBe(
      "Build failed after 3.6s: 3 nodes run, 2 cached (saved 32s), 1 failed, 1 skipped",
    );
    // Nothing is live any more.
    expect(frame).not.toMatch(/running ·/);
  });

  test("a waiting node says what it waits for", () => {
    const state = new BuildState();
    state.apply({ type: "waiting", time: T0, id: "main/packages", on: "package-cache:/var/cache" });
    expect(stripAnsi(renderFrame(state, { now: T0 }))).toContain(
      "  … packages waiting for package-cache:/var/cache",
    );
  });

  test("the live area stays shorter than the terminal however much runs", () => {
    const state = new BuildState();
    state.apply({
      type: "planned",
      time: T0,
      nodes: Array.from({ length: 30 }, (_, i) => ({
        id: `img/n${i}`,
        group: "img",
        label: `n${i}`,
        task: "t",
        deps: [],
      })),
    });
    for (let i = 0; i < 30; i++) {
      state.apply({
        type: "started",
        time: T0,
        id: `img/n${i}`,
        key: hex(`${i}`),
        explanation: {
          id: `img/n${i}`,
          label: `n${i}`,
          task: "t",
          status: "will-run",
          changes: [],
          firstRun: true,
          upstream: [],
          rootCauses: [],
        },
      });
      state.apply({ type: "log", time: T0, id: `img/n${i}`, stream: "stdout", line: `line of n${i}` });
    }
    const lines = stripAnsi(renderFrame(state, { now: T0 + 500, rows: 12 }))
      .trimEnd()
      .split("\n");
    expect(lines.length).toBeLessThan(12);
    expect(lines.at(-2)).toMatch(/… and \d+ more lines/);
    expect(lines.at(-1)).toBe("30 running · 0 queued · 0 done · 0 cached · 500ms");
    // Log lines were dropped before nodes were.
    expect(lines.some((l) => l.includes("│"))).toBe(false);
  });

  test("long lines are truncated to the terminal width", () => {
    const state = new BuildState();
    state.apply({ type: "log", time: T0, id: "m/x", stream: "stdout", line: "x".repeat(500) });
    state.apply({
      type: "started",
      time: T0,
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
    for (const l of stripAnsi(renderFrame(state, { now: T0, columns: 60 })).split("\n")) {
      expect(l.length).toBeLessThanOrEqual(60);
    }
  });
});

describe("live rendering to a terminal", () => {
  test("draws running states, writes finished lines once, ends with the summary", async () => {
    const stream = new FakeStream({ tty: true, columns: 100, rows: 30 });
    const renderer = await createRenderer({ mode: "tty", stream });
    for (const e of failingBuildEvents()) {
      renderer.onEvent(e);
      if (e.type === "log" || e.type === "started") await sleep(130);
    }
    await renderer.close();
    const out = stream.plainText;
    expect(stream.text).toContain("\u001b["); // a real terminal rendering, with cursor movement
    expect(out).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] packages \S+ 3\/10 \(30%\) packages/);
    expect(out).toContain("    │ Unpacking vim (2:9.0) ...");
    expect(out).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] postinst /);
    expect(out).toContain("    │ cp: cannot stat 'foo': No such file");
    // <Static>: each finished line is written exactly once.
    for (const line of [
      "◦ [main] metadata cached",
      "✔ [main] packages 2.0s · 820 MB",
      "◦ [initrd] output cached",
      "✘ [main] postinst failed after 1.0s: exit status 1",
    ]) {
      expect(out.split(line).length - 1).toBe(1);
    }
    expect(out).toContain("full log: /var/cache/mkosi/logs/main-postinst.log");
    expect(out).toContain("Build failed after 3.6s: 3 nodes run, 2 cached (saved 32s), 1 failed, 1 skipped");
  });

  test("closed before the end (interrupted): the last frame is a summary, not live nodes", async () => {
    const stream = new FakeStream({ tty: true });
    const renderer = new InkRenderer(stream, { now: () => T0 + 5000 });
    for (const e of failingBuildEvents().slice(0, 4)) renderer.onEvent(e);
    await sleep(250); // a frame with the running nodes
    await renderer.close();
    const out = stream.plainText.trimEnd();
    expect(out.split("\n").at(-1)).toBe("Build stopped after 5.0s: 0 nodes run, 1 cached (saved 12s)");
    // The last frame (after the last cursor movement) has no running node in it.
    const lastMove = stream.text.lastIndexOf("\u001b[G");
    expect(lastMove).toBeGreaterThan(0);
    expect(stripAnsi(stream.text.slice(0, lastMove))).toMatch(/⠋|⠙|⠹|⠸|⠼|⠴|⠦|⠧|⠇|⠏/);
    const lastFrame = stream.text.slice(lastMove);
    expect(stripAnsi(lastFrame)).not.toMatch(/running ·|[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/);
  });

  test("nothing is drawn before the first event, so earlier output (--explain) stays intact", async () => {
    const stream = new FakeStream({ tty: true });
    const renderer = await createRenderer({ mode: "tty", stream });
    await sleep(150);
    expect(stream.text).toBe("");
    renderer.onEvent(successfulBuildEvents()[0]!);
    expect(stripAnsi(stream.text)).toContain("0 running · 3 queued");
    await renderer.close();
    const idleStream = new FakeStream({ tty: true });
    const idle = await createRenderer({ mode: "tty", stream: idleStream });
    await idle.close();
    expect(idleStream.text).toBe("");
  });

  test("notes from the CLI go above the live area, once", async () => {
    const stream = new FakeStream({ tty: true });
    const renderer = new InkRenderer(stream);
    const events = successfulBuildEvents();
    renderer.onEvent(events[0]!);
    renderer.onEvent(events[1]!);
    renderer.note("warning: Foo= is deprecated");
    renderer.onEvent(events[2]!);
    await sleep(250);
    for (const e of events.slice(3)) renderer.onEvent(e);
    await renderer.close();
    const out = stream.plainText;
    expect(out.split("warning: Foo= is deprecated").length - 1).toBe(1);
    expect(out.indexOf("◦ [main] packages cached")).toBeLessThan(out.indexOf("warning: Foo= is deprecated"));
    expect(out.indexOf("warning: Foo= is deprecated")).toBeLessThan(out.indexOf("✔ [main] extras"));
  });

  test("a flood of events costs a few frames, not one per event", async () => {
    const stream = new FakeStream({ tty: true });
    const renderer = new InkRenderer(stream, { fps: 10 });
    const events = successfulBuildEvents();
    renderer.onEvent(events[0]!);
    renderer.onEvent(events[2]!); // started main/extras
    const t = Date.now();
    for (let i = 0; i < 5000; i++) {
      renderer.onEvent({ type: "log", time: T0 + 3, id: "main/extras", stream: "stdout", line: `line ${i}` });
    }
    expect(Date.now() - t).toBeLessThan(1000);
    await sleep(350);
    const frames = renderer.frames;
    expect(frames).toBeGreaterThanOrEqual(2);
    expect(frames).toBeLessThanOrEqual(5);
    expect(stream.plainText).toContain("│ line 4999");
    expect(stream.plainText).not.toContain("│ line 10\n");
    for (const e of events.slice(3)) renderer.onEvent(e);
    await renderer.close();
    expect(stream.plainText).toContain("Build finished in 310ms: 1 node run, 2 cached (saved 1m 22s)");
  });
});

test("ink and react are loaded only through the dynamic import in the factory", () => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
  const seen = new Set<string>();
  const external: string[] = [];
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, "utf8");
    // Static imports and re-exports only (not `await import(...)`).
    for (const m of src.matchAll(/^(?:import|export)\s[^;]*?from\s+"([^"]+)";/gms)) {
      const spec = m[1]!;
      if (!spec.startsWith(".")) {
        external.push(spec);
        continue;
      }
      const base = join(dirname(file), spec.replace(/\.js$/, ""));
      visit(existsSync(`${base}.ts`) ? `${base}.ts` : `${base}.tsx`);
    }
  };
  visit(join(root, "cli/render/index.ts"));
  visit(join(root, "cli/graph/index.ts"));
  expect(seen.size).toBeGreaterThan(8);
  expect(external.filter((s) => s === "ink" || s.startsWith("react"))).toEqual([]);
  expect(readFileSync(join(root, "cli/render/index.ts"), "utf8")).toContain(
    'await import("./ink/renderer.js")',
  );
});
