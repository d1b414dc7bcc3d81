// Two processes building overlapping graphs on one cache directory: both finish correctly, identical work
// (same key) runs once and the other process waits for it, and a named resource is never held by both.

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openEngine } from "../../engine/index.js";
import { checkTree, overlapGraph } from "./fixtures/graphs.js";
import { cleanup, compileWorker, tempDir } from "./helpers.js";

function runWorker(
  worker: string,
  args: string[],
  go: Promise<void>,
  ready: () => void,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [worker, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, WAIT_FOR_GO: "1" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      if (!stdout.includes("ready\n") && `${stdout}${d}`.includes("ready\n")) {
        ready();
        void go.then(() => child.stdin.end("go\n"));
      }
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("exit", (code) => res({ code, stdout, stderr }));
  });
}

describe("two processes on one cache", () => {
  let dir: string;
  let worker: string;
  let workerDir: string;
  beforeAll(async () => {
    dir = await tempDir();
    ({ worker, dir: workerDir } = await compileWorker());
  });
  afterAll(async () => {
    await cleanup(dir);
    await cleanup(workerDir);
  });

  it("both finish, shared work runs once, resources are exclusive", { timeout: 120_000 }, async () => {
    const cache = join(dir, "cache");
    const runLog = join(dir, "runs.log");
    const delay = "400";
    let readyCount = 0;
    let release!: () => void;
    const go = new Promise<void>((r) => {
      release = r;
    });
    const ready = () => {
      if (++readyCount === 2) release();
    };
    const [one, two] = await Promise.all([
      runWorker(worker, ["overlap", cache, "one", runLog, delay], go, ready),
      runWorker(worker, ["overlap", cache, "two", runLog, delay], go, ready),
    ]);
    expect(one.stderr).toBe("");
    expect(two.stderr).toBe("");
    expect(one.code).toBe(0);
    expect(two.code).toBe(0);
    const res1 = JSON.parse(one.stdout.trim().split("\n").pop()!);
    const res2 = JSON.parse(two.stdout.trim().split("\n").pop()!);
    // Same keys, same results.
    expect(res1.outputs["one/shared"]).toBe(res2.outputs["two/shared"]);
    expect(res1.outputs["one/shared-child"]).toBe(res2.outputs["two/shared-child"]);
    const lines = readFileSync(runLog, "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split(" "));
    const starts = lines.filter((l) => l[2] === "start");
    // Shared nodes ran once in total: one process waited for the other's in-flight work.
    expect(starts.filter((l) => l[0]!.endsWith("/shared")).length).toBe(1);
    expect(starts.filter((l) => l[0]!.endsWith("/shared-child")).length).toBe(1);
    expect(`${one.stdout}${two.stdout}`).toMatch(/waiting \S+\/shared process \d+/);
    // Every node that is not shared ran exactly once, in its own process.
    expect(starts.length).toBe(2 + 2 * 3);
    // The resource "repo-metadata" was never held by two nodes at once, across processes.
    const spans = new Map<string, [number, number]>();
    for (const [id, , what, t] of lines) {
      if (!id!.includes("locked")) continue;
      const s = spans.get(id!) ?? [0, 0];
      s[what === "start" ? 0 : 1] = Number(t);
      spans.set(id!, s);
    }
    const sorted = [...spans.values()].sort((a, b) => a[0] - b[0]);
    expect(sorted.length).toBe(4);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]![0]).toBeGreaterThanOrEqual(sorted[i - 1]![1]);
    // The cache is consistent for a third party.
    const engine = await openEngine({ cacheDir: cache });
    const r = await engine.run([...overlapGraph("one", runLog, 0), ...overlapGraph("two", runLog, 0)]);
    await engine.close();
    expect(r.ok).toBe(true);
    expect(r.ran).toEqual([]);
    for (const out of Object.values(r.outputs)) checkTree(out.dir);
  });
});
