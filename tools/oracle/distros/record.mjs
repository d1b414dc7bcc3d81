#!/usr/bin/env node
// Record the reference mkosi's package manager invocations for fixtures/distros/*/case.json into
// expected.json next to each case. Never needed by CI: the recorded outputs are committed, and
// tests/distros/oracle.test.ts compares our generated configuration with them.
//
// Usage:
//   MKOSI_ORACLE=/path/to/upstream/mkosi/checkout node tools/oracle/distros/record.mjs [case...]
//
// Each case builds a directory image with the reference mkosi, with `stub` (linked as dnf, zypper,
// pacman, pacman-key, rpm, createrepo_c, repo-add: copies, as the sandbox sees only that directory) first on the search path (ExtraSearchPaths=): the
// stub prints its arguments, environment and the configuration files it sees and does nothing, so the
// build runs through every package manager call without a network and fails later (the image is
// empty). Nothing from the reference is copied; only the normalized calls are written.
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { FIXTURES as fixtures, renderConf } from "../../../tests/helpers/distro-oracle.mjs";

const here = dirname(new URL(import.meta.url).pathname);
const oracle = process.env.MKOSI_ORACLE;
if (!oracle || !existsSync(join(oracle, "bin", "mkosi"))) {
  console.error("record: set MKOSI_ORACLE to an upstream mkosi checkout");
  process.exit(2);
}

/** Parse the stub's reports out of the build's output. */
function parseCalls(text) {
  const calls = [];
  let current;
  let file;
  for (const line of text.split("\n")) {
    const begin = /^@@ORACLE-BEGIN (\S+)$/.exec(line);
    if (begin) {
      current = { tool: begin[1], args: [], env: {}, files: {} };
      file = undefined;
      continue;
    }
    if (!current) continue;
    if (line.startsWith("@@ORACLE-END ")) {
      calls.push(current);
      current = undefined;
      continue;
    }
    if (line.startsWith("ARG ")) current.args.push(line.slice(4));
    else if (line.startsWith("ENV ")) {
      const [k, ...v] = line.slice(4).split("=");
      current.env[k] = v.join("=");
    } else if (line.startsWith("FILE ")) {
      file = line.slice(5);
      current.files[file] = "";
    } else if (line.startsWith("| ") || line === "|") current.files[file] += `${line.slice(2)}\n`;
    else if (line === "NONEWLINE") current.files[file] = current.files[file].replace(/\n$/, "");
  }
  return calls;
}

function record(name) {
  const dir = join(fixtures, name);
  const spec = JSON.parse(readFileSync(join(dir, "case.json"), "utf8"));
  const work = mkdtempSync(join(tmpdir(), "mkosi-oracle-distros-"));
  try {
    const bin = join(work, "bin");
    mkdirSync(bin);
    for (const tool of ["dnf", "zypper", "pacman", "pacman-key", "rpm", "createrepo_c", "repo-add"])
      copyFileSync(join(here, "stub"), join(bin, tool));
    const project = join(work, "project");
    mkdirSync(project);
    const conf = `${renderConf(spec.settings)}\n[Output]\nFormat=directory\n\n[Build]\nExtraSearchPaths=${bin}\nIncremental=no\n`;
    writeFileSync(join(project, "mkosi.conf"), conf);
    for (const [path, content] of Object.entries(spec.sandbox ?? {})) {
      const target = join(project, "mkosi.sandbox", path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, content);
    }
    const r = spawnSync(join(oracle, "bin", "mkosi"), ["-f", "build"], {
      cwd: project,
      encoding: "utf8",
      env: { ...process.env, HOME: work },
      timeout: 300_000,
    });
    const output = `${r.stdout}\n${r.stderr}`;
    const calls = parseCalls(output);
    // Later calls repeat the configuration: keep files only where they differ from the first call's.
    const first = calls[0]?.files ?? {};
    for (const call of calls.slice(1)) {
      for (const [path, content] of Object.entries(call.files))
        if (first[path] === content) delete call.files[path];
    }
    const expected = { calls };
    if (calls.length === 0) {
      const error = output
        .split("\n")
        // The last message, not its hint (in parentheses).
        .filter((l) => (l.startsWith("‣ ") && !l.startsWith("‣ (")) || l.includes("Error"))
        .pop();
      expected.error = error?.replace(/^‣ /, "") ?? `exit ${r.status}`;
    }
    writeFileSync(join(dir, "expected.json"), `${JSON.stringify(expected, null, 2)}\n`);
    console.log(`${name}: ${calls.length} calls${expected.error ? `, error: ${expected.error}` : ""}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const filters = process.argv.slice(2);
for (const name of readdirSync(fixtures).sort()) {
  if (!existsSync(join(fixtures, name, "case.json"))) continue;
  if (filters.length > 0 && !filters.some((f) => name === f || name.includes(f))) continue;
  record(name);
}
