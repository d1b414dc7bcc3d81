// Black-box conformance suite for configuration parsing (`mkosi --json summary`).
//
// Every directory in fixtures/config/ is one case: a config tree, the CLI arguments/environment to
// run it with (case.json) and what the reference implementation printed for it (expected.json,
// produced by tools/oracle/regen.mjs). Each case runs our bin/mkosi in a fresh temp copy of the
// tree and compares the normalized JSON field by field with the reference's.
//
// Set MKOSI_FIXTURES_REPORT=<file> to get a JSON report of every mismatching field per case.

import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imageConfigProblems } from "../config/image.js";
// Plain-JS harness shared with tools/oracle/regen.mjs.
import {
  caseArgs,
  caseEnv,
  cleanupCase,
  diffImage,
  expandExpected,
  listCases,
  loadCase,
  normalizeCatConfig,
  normalizeStderr,
  normalizeString,
  normalizeSummary,
  prepareCase,
  REPO_ROOT,
  run,
} from "./helpers/config-fixtures.mjs";

const BIN = join(REPO_ROOT, "bin", "mkosi");
const ENTRY = join(REPO_ROOT, "dist", "cli", "main.js");

type Image = Record<string, unknown>;
interface Summary {
  Images: Image[];
  Tools: Image | null;
}

const report: Record<string, string[]> = {};

// Runs are started by our own pool (not bounded by vitest's maxConcurrency, which is too low for
// child processes that mostly wait on I/O) as soon as the build is there; each `it` awaits its run.
const JOBS = Number(process.env.MKOSI_FIXTURES_JOBS ?? Math.max(4, availableParallelism() * 4));
interface RunResult {
  prep: ReturnType<typeof prepareCase>;
  res: { code: number; stdout: string; stderr: string };
}
const pending = new Map<string, { promise: Promise<RunResult>; start: () => void }>();
const prepared = new Set<ReturnType<typeof prepareCase>>();

function schedule(names: string[]) {
  for (const name of names) {
    let start!: () => void;
    const promise = new Promise<RunResult>((resolve, reject) => {
      start = () => {
        try {
          const c = loadCase(name);
          const prep = prepareCase(c);
          prepared.add(prep);
          run(process.execPath, ["--", BIN, ...caseArgs(c, prep)], {
            cwd: prep.cwd,
            env: caseEnv(c, prep),
          }).then((res: RunResult["res"]) => resolve({ prep, res }), reject);
        } catch (e) {
          reject(e);
        }
      };
    });
    promise.catch(() => {});
    pending.set(name, { promise, start });
  }
  const queue = [...names];
  const next = (): void => {
    const p = pending.get(queue.shift() ?? "");
    if (!p) return;
    p.start();
    p.promise.finally(next).catch(() => {});
  };
  for (let i = 0; i < JOBS; i++) next();
}

beforeAll(() => {
  // `npm test` builds first; build here only when dist/ is missing (e.g. `npx vitest` on a fresh
  // checkout). Type errors elsewhere still emit JavaScript, so the exit status is not fatal here.
  if (!existsSync(ENTRY))
    spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: REPO_ROOT, stdio: "inherit" });
  schedule(listCases());
});

afterAll(async () => {
  // Runs are started for every case, also those a -t filter leaves out: remove their copies too.
  await Promise.allSettled([...pending.values()].map((p) => p.promise));
  for (const prep of prepared) cleanupCase(prep);
  const out = process.env.MKOSI_FIXTURES_REPORT;
  if (out) writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
});

function fail(name: string, lines: string[]): string[] {
  report[name] = lines;
  return lines;
}

describe.concurrent("config fixtures (mkosi --json summary vs. reference)", () => {
  const names = listCases();

  it("has a substantial set of cases", () => {
    expect(names.length).toBeGreaterThanOrEqual(80);
  });

  for (const name of names) {
    const c = loadCase(name);

    it(name, async () => {
      expect(c.expected, `${name}: expected.json is missing (run tools/oracle/regen.mjs)`).toBeDefined();
      const scheduled = pending.get(name);
      expect(scheduled, `${name}: not scheduled`).toBeDefined();
      const { prep, res } = await (scheduled as { promise: Promise<RunResult> }).promise;
      try {
        const stderr = res.stderr
          .split("\n")
          .map((l: string) => normalizeString(l, prep))
          .join("\n");
        const context = `${c.spec.description ?? ""}\nargs: ${JSON.stringify(c.spec.args ?? [])}\nstderr:\n${stderr.slice(-2000)}`;

        if (c.expected.exit !== 0) {
          // Invalid configuration: must fail, and say what is wrong (setting/value, and file where
          // the reference names it).
          if (res.code === 0) fail(name, ["expected a non-zero exit status, got 0"]);
          expect(res.code, `${name} should fail\n${context}`).not.toBe(0);
          const missing = (c.expected.errorMentions as string[]).filter((m) => !stderr.includes(m));
          if (missing.length)
            fail(
              name,
              missing.map((m) => `stderr lacks ${JSON.stringify(m)}`),
            );
          expect(missing, `${name}: error output does not mention these\n${context}`).toEqual([]);
          return;
        }

        if (res.code !== 0)
          fail(name, [`exit status ${res.code}: ${stderr.trim().split("\n").slice(-1)[0] ?? ""}`]);
        expect(res.code, `${name}: mkosi exited with ${res.code}\n${context}`).toBe(0);

        if (c.spec.verb) {
          const text = normalizeCatConfig(res.stdout, prep, join(REPO_ROOT, "config", "resources"));
          if (text !== c.expected.stdout) fail(name, [`${c.spec.verb} output differs`]);
          expect(text, `${name}: ${c.spec.verb} output`).toBe(c.expected.stdout);
          return;
        }
        if (c.spec.compareWarnings) {
          const warnings = normalizeStderr(res.stderr, prep);
          if (JSON.stringify(warnings) !== JSON.stringify(c.expected.warnings))
            fail(name, [
              `warnings: expected ${JSON.stringify(c.expected.warnings)}, got ${JSON.stringify(warnings)}`,
            ]);
          expect(warnings, `${name}: warnings`).toEqual(c.expected.warnings);
        }

        let doc: unknown;
        try {
          doc = JSON.parse(res.stdout);
        } catch (e) {
          fail(name, ["stdout is not JSON"]);
          expect.fail(`${name}: stdout is not JSON (${e})\n${res.stdout.slice(0, 500)}\n${context}`);
        }
        // Every image also has the shape the settings table gives ImageConfig (types of all fields).
        const shapeProblems = [
          ...(doc as Summary).Images,
          ...((doc as Summary).Tools ? [(doc as Summary).Tools as Image] : []),
        ].flatMap((img) => imageConfigProblems(img).map((p) => `${String(img.Image)}: ${p}`));
        expect(shapeProblems, `${name}: image configuration shape`).toEqual([]);
        const actual = normalizeSummary(doc, c, prep) as Summary;
        const expected = expandExpected(c) as Summary;

        const expNames = expected.Images.map((i) => i.Image);
        const actNames = Array.isArray(actual.Images) ? actual.Images.map((i) => i?.Image) : actual.Images;
        if (JSON.stringify(expNames) !== JSON.stringify(actNames))
          fail(name, [`Images: expected ${JSON.stringify(expNames)}, got ${JSON.stringify(actNames)}`]);
        expect(actNames, `${name}: images (in build order)`).toEqual(expNames);

        const diffs: string[] = [];
        expected.Images.forEach((img, i) => {
          diffs.push(...diffImage(`Images[${String(img.Image)}]`, img, actual.Images[i]));
        });
        if (expected.Tools === null) {
          if (actual.Tools != null) diffs.push("Tools: expected null, got an image");
        } else {
          diffs.push(...diffImage("Tools", expected.Tools, actual.Tools));
        }
        if (diffs.length) fail(name, diffs);
        expect(
          diffs,
          `${name}: ${diffs.length} field(s) differ from the reference:\n  ${diffs.join("\n  ")}`,
        ).toEqual([]);
      } finally {
        cleanupCase(prep);
      }
    });
  }
});
