// Real-world trees for the configuration conformance test: systemd's own mkosi tree (kept read-only
// at a fixed path on the development machine, see /work/shared/realworld/README.md). Each run uses
// a fresh copy, as a user's checkout would be. Shared by tests/config/realworld.test.ts (our
// bin/mkosi) and tools/oracle/regen-realworld.mjs (the reference, which records the expected
// outputs into fixtures/config/realworld/).
//
// Normalization (both sides): the copy's location becomes $D, the temp HOME $HOME, the per-run temp
// root $T, builtin configuration paths $RESOURCES/mkosi-…, and Seed= (random per process) is
// dropped: the helpers of config-fixtures.mjs. cat-config output also has the bodies of builtin
// files replaced (each implementation ships its own text for them).

import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURES_DIR, normalizeCatConfig, normalizeSummary } from "./config-fixtures.mjs";

export const SYSTEMD_TREE = process.env.MKOSI_REALWORLD_SYSTEMD ?? "/work/shared/realworld/systemd";
export const DISTRIBUTIONS = ["debian", "fedora", "arch", "opensuse", "ubuntu", "centos"];
export const EXPECTED_DIR = join(FIXTURES_DIR, "realworld", "systemd");

/** The runs to compare: `-d <distribution> --json summary` and `-d <distribution> cat-config`. */
export function runs() {
  return DISTRIBUTIONS.flatMap((d) => [
    { name: `${d}.summary`, args: ["-d", d, "--json", "summary"], kind: "summary" },
    { name: `${d}.cat-config`, args: ["-d", d, "cat-config"], kind: "cat-config" },
  ]);
}

function makeWritable(path) {
  const st = statSync(path);
  chmodSync(path, (st.mode & 0o7777) | 0o200);
  if (st.isDirectory()) for (const e of readdirSync(path)) makeWritable(join(path, e));
}

/** A fresh copy of the tree: {root, d, home, cwd} like config-fixtures' prepareCase. */
export function prepareTree(tree = SYSTEMD_TREE) {
  if (!existsSync(join(tree, "mkosi", "mkosi.conf")))
    throw new Error(`systemd's mkosi tree is expected at ${tree} (set MKOSI_REALWORLD_SYSTEMD)`);
  const root = realpathSync(mkdtempSync(join(tmpdir(), "mkosi-realworld-")));
  const d = join(root, "d");
  const home = join(root, "home");
  mkdirSync(home);
  cpSync(tree, d, { recursive: true });
  makeWritable(d);
  return { root, d, home, cwd: d };
}

export function cleanupTree(prep) {
  rmSync(prep.root, { recursive: true, force: true });
}

export function treeEnv(prep, extra = {}) {
  return {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: prep.home,
    TMPDIR: tmpdir(),
    MKOSI_HOST_DISTRIBUTION: "debian",
    MKOSI_HOST_RELEASE: "bookworm",
    LANG: "C.UTF-8",
    ...extra,
  };
}

/** The normalized output of one run, as stored in the expected file. */
export function normalizeRun(run, stdout, prep, resources) {
  if (run.kind === "cat-config") return normalizeCatConfig(stdout, prep, resources);
  const doc = normalizeSummary(JSON.parse(stdout), { spec: {} }, prep);
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function expectedPath(run) {
  return join(EXPECTED_DIR, run.kind === "cat-config" ? `${run.name}.txt` : `${run.name}.json`);
}
