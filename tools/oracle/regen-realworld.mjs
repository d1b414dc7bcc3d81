#!/usr/bin/env node
// Records the reference's outputs on systemd's real mkosi tree (fixtures/config/realworld/systemd/):
// `--json summary` and `cat-config` for each distribution of tests/helpers/realworld.mjs, from a
// fresh copy of the tree, normalized. Usage as regen.mjs:
//
//   MKOSI_ORACLE=/path/to/upstream/mkosi/checkout node tools/oracle/regen-realworld.mjs [--check]

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../../tests/helpers/config-fixtures.mjs";
import {
  cleanupTree,
  EXPECTED_DIR,
  expectedPath,
  normalizeRun,
  prepareTree,
  runs,
  treeEnv,
} from "../../tests/helpers/realworld.mjs";

const oracle = process.env.MKOSI_ORACLE;
if (!oracle || !existsSync(join(oracle, "mkosi", "__init__.py"))) {
  console.error(
    "regen-realworld: set MKOSI_ORACLE to an upstream mkosi checkout (containing mkosi/__init__.py)",
  );
  process.exit(2);
}
const check = process.argv.includes("--check");
mkdirSync(EXPECTED_DIR, { recursive: true });
let bad = 0;
for (const r of runs()) {
  const prep = prepareTree();
  try {
    const res = await run(process.env.PYTHON ?? "python3", ["-m", "mkosi", ...r.args], {
      cwd: prep.cwd,
      env: treeEnv(prep, { PYTHONPATH: oracle }),
    });
    if (res.code !== 0) {
      bad++;
      console.log(`✗ ${r.name}: the reference failed (exit ${res.code})\n${res.stderr.slice(-1000)}`);
      continue;
    }
    const text = normalizeRun(r, res.stdout, prep, join(oracle, "mkosi", "resources"));
    const path = expectedPath(r);
    const old = existsSync(path) ? readFileSync(path, "utf8") : "";
    if (old !== text) {
      if (check) {
        bad++;
        console.log(`≠ ${r.name}`);
      } else {
        writeFileSync(path, text);
        console.log(`✎ ${r.name}`);
      }
    }
  } finally {
    cleanupTree(prep);
  }
}
process.exit(bad ? 1 : 0);
