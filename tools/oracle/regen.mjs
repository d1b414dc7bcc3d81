#!/usr/bin/env node
// Regenerate fixtures/config/*/expected.json by running the reference mkosi (upstream, Python) on
// each case. Never needed by CI: the expected outputs are committed.
//
// Usage:
//   MKOSI_ORACLE=/path/to/upstream/mkosi/checkout node tools/oracle/regen.mjs [--check] [case-name-or-substring...]
//
// MKOSI_ORACLE must point at an upstream mkosi checkout (commit 4c021322, the spec's version); it is
// run as `python3 -m mkosi` with PYTHONPATH=$MKOSI_ORACLE. Nothing from it is copied into this
// repository; only the normalized outputs are written.
//
// --check   do not write; report the cases whose expected.json would change.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  BASELINE_CASE,
  baseline,
  caseArgs,
  caseEnv,
  cleanupCase,
  compressSummary,
  listCases,
  loadCase,
  normalizeCatConfig,
  normalizeStderr,
  normalizeString,
  normalizeSummary,
  prepareCase,
  run,
} from "../../tests/helpers/config-fixtures.mjs";

const oracle = process.env.MKOSI_ORACLE;
if (!oracle || !existsSync(join(oracle, "mkosi", "__init__.py"))) {
  console.error("regen: set MKOSI_ORACLE to an upstream mkosi checkout (containing mkosi/__init__.py)");
  process.exit(2);
}
const python = process.env.PYTHON ?? "python3";

const argv = process.argv.slice(2);
const check = argv.includes("--check");
const filters = argv.filter((a) => !a.startsWith("--"));
const names = listCases().filter(
  (n) => filters.length === 0 || filters.some((f) => n === f || n.includes(f)),
);

function stable(v) {
  if (Array.isArray(v)) return v.map(stable);
  if (v && typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v).sort()) o[k] = stable(v[k]);
    return o;
  }
  return v;
}

async function one(name) {
  const c = loadCase(name);
  const prep = prepareCase(c);
  try {
    const res = await run(python, ["-m", "mkosi", ...caseArgs(c, prep)], {
      cwd: prep.cwd,
      env: caseEnv(c, prep, { PYTHONPATH: oracle }),
    });
    let expected;
    const problems = [];
    if (res.code === 0 && c.spec.verb) {
      if (c.spec.expectFailure) problems.push("case.json says expectFailure but the reference succeeded");
      expected = {
        exit: 0,
        stdout: normalizeCatConfig(res.stdout, prep, join(oracle, "mkosi", "resources")),
      };
    } else if (res.code === 0) {
      if (c.spec.expectFailure) problems.push("case.json says expectFailure but the reference succeeded");
      let doc;
      try {
        doc = JSON.parse(res.stdout);
      } catch (e) {
        problems.push(`reference output is not JSON: ${e}`);
      }
      const summary = stable(normalizeSummary(doc, c, prep));
      expected = { exit: 0, ...compressSummary(summary, name === BASELINE_CASE ? null : baseline()) };
      if (c.spec.compareWarnings) expected.warnings = normalizeStderr(res.stderr, prep);
    } else {
      const stderr = res.stderr
        .split("\n")
        .map((l) => normalizeString(l, prep))
        .join("\n")
        .trim();
      if (!c.spec.expectFailure)
        problems.push(`reference failed unexpectedly (exit ${res.code}):\n${stderr}`);
      const mentions = c.spec.errorMentions ?? [];
      for (const m of mentions)
        if (!stderr.includes(m)) problems.push(`reference stderr lacks ${JSON.stringify(m)}`);
      if (/Traceback \(most recent call last\)/.test(stderr) && !c.spec.referenceTraceback)
        problems.push("reference crashed with a traceback");
      // Keep only the tail (never upstream source lines from a traceback: just its last line).
      const lines = stderr.split("\n");
      const tail = /Traceback \(most recent call last\)/.test(stderr) ? lines.slice(-1) : lines.slice(-5);
      expected = { exit: res.code, errorMentions: mentions, stderr: tail.join("\n") };
    }
    const text = `${JSON.stringify(expected, null, 2)}\n`;
    const old = existsSync(c.expectedPath) ? readFileSync(c.expectedPath, "utf8") : "";
    if (old !== text) {
      if (check) problems.push("expected.json is out of date");
      else writeFileSync(c.expectedPath, text);
    }
    return { name, problems, changed: old !== text };
  } finally {
    cleanupCase(prep);
  }
}

const results = [];
// The baseline must be (re)generated first: every other success case is stored as a delta against it.
if (names.includes(BASELINE_CASE)) results.push(await one(BASELINE_CASE));
const queue = names.filter((n) => n !== BASELINE_CASE);
const workers = Array.from({ length: Number(process.env.JOBS ?? 4) }, async () => {
  for (let n = queue.shift(); n !== undefined; n = queue.shift()) results.push(await one(n));
});
await Promise.all(workers);
results.sort((a, b) => a.name.localeCompare(b.name));
let bad = 0;
for (const r of results) {
  if (r.problems.length) {
    bad++;
    console.log(`✗ ${r.name}\n    ${r.problems.join("\n    ")}`);
  } else if (r.changed) console.log(`${check ? "≠" : "✎"} ${r.name}`);
}
console.log(`${results.length} cases, ${bad} with problems`);
process.exit(bad ? 1 : 0);
