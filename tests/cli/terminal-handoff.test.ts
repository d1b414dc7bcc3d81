// Handing the terminal to a debug shell (--debug-shell): renderers suspend (live area cleared, output
// held back) and resume (held output written, live area drawn again, finished lines not repeated), and
// shells of nodes that fail in parallel take turns.

// ink decides at import time whether it runs in CI (then it draws only the last frame); this test checks
// live frames, so it must see a terminal. ink is imported dynamically below, after this.
delete process.env.CI;
delete process.env.CONTINUOUS_INTEGRATION;

import { describe, expect, test } from "vitest";
import { buildTerminal } from "../../cli/commands/terminal.js";
import { stripAnsi } from "../../cli/render/format.js";
import { combineRenderers, JsonRenderer, PlainRenderer, type Renderer } from "../../cli/render/index.js";
import { failingBuildEvents } from "./fixtures.js";
import { FakeStream, sleep } from "./helpers.js";

const { InkRenderer } = await import("../../cli/render/ink/renderer.js");

const SPINNER = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/;

describe("renderers stand aside while a debug shell has the terminal", () => {
  test("plain: lines of events during the shell are written after it, in order", async () => {
    const stream = new FakeStream();
    const renderer = new PlainRenderer(stream);
    const events = failingBuildEvents();
    renderer.onEvent(events[0]!);
    renderer.onEvent(events[1]!);
    const before = stream.text;
    await renderer.suspend();
    for (const e of events.slice(2, 6)) renderer.onEvent(e);
    expect(stream.text).toBe(before);
    renderer.resume();
    for (const e of events.slice(6)) renderer.onEvent(e);
    await renderer.close();
    const all = new FakeStream();
    const reference = new PlainRenderer(all);
    for (const e of events) reference.onEvent(e);
    await reference.close();
    expect(stream.text).toBe(all.text);
  });

  test("json: records are held back whole and written on resume (and on close)", async () => {
    const stream = new FakeStream();
    const renderer = new JsonRenderer(stream);
    const [first, second, third] = failingBuildEvents();
    renderer.onEvent(first!);
    await renderer.suspend();
    renderer.onEvent(second!);
    expect(stream.text.split("\n").filter(Boolean)).toHaveLength(1);
    renderer.resume();
    expect(stream.text.split("\n").filter(Boolean)).toHaveLength(2);
    await renderer.suspend();
    renderer.onEvent(third!);
    await renderer.close();
    expect(stream.text.split("\n").filter(Boolean)).toHaveLength(3);
  });

  test("ink: the live area is cleared, nothing is drawn while suspended, finished lines are written once", async () => {
    const stream = new FakeStream({ tty: true, columns: 100, rows: 30 });
    const renderer = new InkRenderer(stream, { fps: 20 });
    const events = failingBuildEvents();
    const started = events.findIndex((e) => e.type === "started");
    for (const e of events.slice(0, started + 1)) renderer.onEvent(e);
    await sleep(120);
    expect(stripAnsi(stream.text)).toMatch(SPINNER);
    await renderer.suspend();
    // The last frame before the shell has no live area: after its last cursor movement, no spinner and
    // no status line.
    const lastMove = stream.text.lastIndexOf("\u001b[G");
    expect(stripAnsi(stream.text.slice(lastMove))).not.toMatch(/running ·|[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/);
    const atSuspend = stream.text.length;
    // The rest of the build happens while the shell runs: nothing reaches the terminal.
    const failed = events.findIndex((e) => e.type === "failed");
    for (const e of events.slice(started + 1, failed + 1)) renderer.onEvent(e);
    await sleep(200);
    expect(stream.text.length).toBe(atSuspend);
    // The shell writes to the terminal.
    stream.write("root@image:/# exit\n");
    renderer.resume();
    for (const e of events.slice(failed + 1)) renderer.onEvent(e);
    await renderer.close();
    const after = stripAnsi(stream.text.slice(atSuspend));
    expect(after).toContain("✘ [main] postinst failed after 1.0s: exit status 1");
    expect(after).toContain("Build failed after");
    // Each finished line exactly once over the whole output, across the two ink instances.
    const out = stream.plainText;
    for (const line of ["◦ [main] metadata cached", "✘ [main] postinst failed after 1.0s: exit status 1"]) {
      expect(out.split(line).length - 1).toBe(1);
    }
    // What the shell wrote is not erased by the redraw: no cursor movement up past it.
    const shellAt = stream.text.indexOf("root@image:/# exit\n");
    const resumed = stream.text.slice(shellAt + "root@image:/# exit\n".length);
    const firstFrame = resumed.slice(0, resumed.indexOf("\n"));
    expect(firstFrame).not.toMatch(/\u001b\[\d*A/);
  });
});

describe("buildTerminal", () => {
  test("suspends the renderer, says why, runs the shell, resumes; shells take turns", async () => {
    const log: string[] = [];
    const renderer: Renderer = {
      onEvent: () => undefined,
      async suspend() {
        log.push("suspend");
      },
      resume() {
        log.push("resume");
      },
      close: async () => undefined,
    };
    const stream = new FakeStream();
    const terminal = buildTerminal(combineRenderers(renderer), stream);
    expect(terminal.busy()).toBe(false);
    const shell = (name: string, ms: number) => async () => {
      log.push(`${name} start (busy: ${terminal.busy()})`);
      await sleep(ms);
      log.push(`${name} end`);
      return name;
    };
    const results = await Promise.all([
      terminal.handoff("first failed", shell("one", 50)),
      terminal.handoff("second failed", shell("two", 10)),
    ]);
    expect(results).toEqual(["one", "two"]);
    expect(log).toEqual([
      "suspend",
      "one start (busy: true)",
      "one end",
      "resume",
      "suspend",
      "two start (busy: true)",
      "two end",
      "resume",
    ]);
    expect(stream.text).toBe("‣ first failed\n‣ second failed\n");
    expect(terminal.busy()).toBe(false);
  });

  test("a shell that cannot start does not keep the terminal", async () => {
    const terminal = buildTerminal(new PlainRenderer(new FakeStream()), new FakeStream());
    await expect(terminal.handoff("x", () => Promise.reject(new Error("no bwrap")))).rejects.toThrow(
      "no bwrap",
    );
    expect(terminal.busy()).toBe(false);
    await expect(terminal.handoff("y", async () => 1)).resolves.toBe(1);
  });
});
