// Shared harness for the black-box configuration conformance fixtures in fixtures/config/.
//
// Used by tests/config-fixtures.test.ts (runs our bin/mkosi) and by tools/oracle/regen.mjs
// (runs the reference implementation to produce expected.json). Plain ESM JavaScript so that both
// vitest and a bare `node` can import it.
//
// Fixture layout (one directory per case):
//
//   fixtures/config/<case>/case.json      what to run (see CaseSpec below)
//   fixtures/config/<case>/tree/          the config tree; copied to a fresh temp dir "$D" per run
//   fixtures/config/<case>/expected.json  what the reference produced (generated, normalized)
//
// CaseSpec (case.json), every field optional:
//   description   string    what the case is about
//   args          string[]  extra CLI arguments, placed before `--json summary`; "$D" is substituted
//   env           object    extra environment variables; "$D" is substituted in values
//   cwd           string    directory (relative to $D) to run in; default $D itself
//   mkdir         string[]  empty directories to create in $D (git does not store empty dirs)
//   chmod         object    path (relative to $D) -> octal mode string, applied after the copy
//   symlink       object    path (relative to $D) -> link target
//   compareSeed   boolean   compare the Seed field (default: dropped, it is random per process)
//   expectFailure boolean   the reference exits non-zero for this case
//   errorMentions string[]  substrings the error output must contain ("$D" substituted); regen checks
//                           that the reference's stderr really contains them
//
//   referenceTraceback boolean  the reference crashes with a Python traceback here (a reference bug); we
//                           still expect a non-zero exit with errorMentions
//   verb          string    run this verb instead of `--json summary` (only "cat-config"): the
//                           expected output is the normalized text (normalizeCatConfig)
//   compareWarnings boolean  also compare what is printed on stderr (warnings), line by line,
//                           normalized; for a success case only
//
// expected.json (written by tools/oracle/regen.mjs, normalized):
//   success: {"exit": 0, "Images": [<delta>, ...], "Tools": null | <delta>, "warnings"?: [...]}
//   cat-config: {"exit": 0, "stdout": "<normalized text>"}
//     Each <delta> lists only the fields whose value differs from the baseline image, which is the
//     single image of the BASELINE_CASE ("defaults-no-config", stored in full); a field the baseline
//     has but the image lacks is written as {"$absent": true}. expandExpected() rebuilds the full
//     objects, and the comparison is always on full objects.
//   failure: {"exit": N, "errorMentions": [...], "stderr": "<last lines of the reference's stderr>"}
//
// Normalization of outputs (both sides): the temp copy of the tree becomes "$D", the temp HOME
// becomes "$HOME", the per-run temp root becomes "$T", builtin resource paths
// (…/mkosi-tools/…, …/mkosi-initrd/… etc. outside $D) become "$RESOURCES/mkosi-…/…", and Seed is
// dropped unless compareSeed is set.

import { spawn } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const FIXTURES_DIR = join(REPO_ROOT, "fixtures", "config");

/** Environment every run gets (nothing is inherited from the caller except PATH). */
export const PINNED_ENV = {
  MKOSI_HOST_DISTRIBUTION: "debian",
  MKOSI_HOST_RELEASE: "bookworm",
  LANG: "C.UTF-8",
};

export function listCases() {
  return readdirSync(FIXTURES_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(FIXTURES_DIR, e.name, "case.json")))
    .map((e) => e.name)
    .sort();
}

export function loadCase(name) {
  const dir = join(FIXTURES_DIR, name);
  const spec = JSON.parse(readFileSync(join(dir, "case.json"), "utf8"));
  const expectedPath = join(dir, "expected.json");
  const expected = existsSync(expectedPath) ? JSON.parse(readFileSync(expectedPath, "utf8")) : undefined;
  return { name, dir, spec, expected, expectedPath };
}

function subst(s, d) {
  return s.split("$D").join(d);
}

function normalizeModes(path) {
  // Make the copy independent of the checkout's umask: dirs 0755, files 0644 (0755 if executable
  // in the repository), then case.json's chmod is applied on top.
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    chmodSync(path, 0o755);
    for (const e of readdirSync(path)) normalizeModes(join(path, e));
  } else {
    chmodSync(path, st.mode & 0o100 ? 0o755 : 0o644);
  }
}

/** Copy a case's tree into a fresh temp dir. Returns {root, d, home, cwd}. */
export function prepareCase(c) {
  const root = realpathSync(mkdtempSync(join(tmpdir(), "mkosi-cfx-")));
  const d = join(root, "d");
  const home = join(root, "home");
  mkdirSync(home);
  const tree = join(c.dir, "tree");
  if (existsSync(tree)) cpSync(tree, d, { recursive: true });
  else mkdirSync(d);
  normalizeModes(d);
  for (const p of c.spec.mkdir ?? []) mkdirSync(join(d, p), { recursive: true });
  for (const [p, target] of Object.entries(c.spec.symlink ?? {})) symlinkSync(subst(target, d), join(d, p));
  for (const [p, mode] of Object.entries(c.spec.chmod ?? {})) chmodSync(join(d, p), Number.parseInt(mode, 8));
  const cwd = c.spec.cwd ? join(d, c.spec.cwd) : d;
  return { root, d, home, cwd };
}

export function cleanupCase(prep) {
  rmSync(prep.root, { recursive: true, force: true });
}

export function caseArgs(c, prep) {
  const verb = c.spec.verb ? [c.spec.verb] : ["--json", "summary"];
  return [...(c.spec.args ?? []).map((a) => subst(a, prep.d)), ...verb];
}

export function caseEnv(c, prep, extra = {}) {
  const env = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: prep.home,
    TMPDIR: tmpdir(),
    ...PINNED_ENV,
    ...extra,
  };
  for (const [k, v] of Object.entries(c.spec.env ?? {})) env[k] = subst(String(v), prep.d);
  return env;
}

/** Run a command; resolves {code, stdout, stderr}. Never rejects on non-zero exit. */
export function run(cmd, args, { cwd, env, timeoutMs = 60_000 }) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (b) => (stdout += b));
    child.stderr.setEncoding("utf8").on("data", (b) => (stderr += b));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: stderr + String(e) });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

const RESOURCE_RE = /^\/.*?\/(mkosi-(?:tools|initrd|vm|addon|obs))(\/.*)?$/;

export function normalizeString(s, prep) {
  let out = s.split(join(prep.root, "home")).join("$HOME");
  out = out.split(prep.d).join("$D");
  out = out.split(prep.root).join("$T");
  if (!out.startsWith("$D")) {
    const m = RESOURCE_RE.exec(out);
    if (m) out = `$RESOURCES/${m[1]}${m[2] ?? ""}`;
  }
  return out;
}

/** Normalized stderr lines (empty lines dropped), for compareWarnings. */
export function normalizeStderr(stderr, prep) {
  return stderr
    .split("\n")
    .map((l) => normalizeString(l, prep))
    .filter((l) => l.trim() !== "");
}

/**
 * Normalizes `cat-config` output. Paths as in normalizeString; the body of each builtin
 * configuration file (a "# $RESOURCES/mkosi-…/…" block) is replaced by a placeholder, because each
 * implementation ships its own text for those files (their effective settings are compared by the
 * builtin-* summary cases). `resources` is the directory holding the builtin trees of the
 * implementation that printed the text: a block's body is exactly that file's content, which is
 * how its end is found.
 */
export function normalizeCatConfig(text, prep, resources) {
  const out = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const m = /^# (\/.*)$/.exec(line);
    const path = m ? normalizeString(m[1], prep) : null;
    if (path?.startsWith("$RESOURCES/")) {
      const body = readFileSync(join(resources, path.slice("$RESOURCES/".length)), "utf8");
      const n = `${body}\n`.split("\n").length - 1;
      out.push(`# ${path}`, "<builtin file>");
      i += n;
      continue;
    }
    out.push(path ? `# ${path}` : normalizeString(line, prep));
  }
  return out.join("\n");
}

function normalizeValue(v, prep) {
  if (typeof v === "string") return normalizeString(v, prep);
  if (Array.isArray(v)) return v.map((x) => normalizeValue(x, prep));
  if (v && typeof v === "object") {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[normalizeString(k, prep)] = normalizeValue(x, prep);
    return o;
  }
  return v;
}

function normalizeImage(img, c, prep) {
  if (!img || typeof img !== "object") return img;
  const o = normalizeValue(img, prep);
  if (!c.spec.compareSeed) delete o.Seed;
  return o;
}

/** Normalize a parsed `--json summary` document. */
export function normalizeSummary(doc, c, prep) {
  if (!doc || typeof doc !== "object") return doc;
  return {
    Images: Array.isArray(doc.Images) ? doc.Images.map((i) => normalizeImage(i, c, prep)) : doc.Images,
    Tools: doc.Tools == null ? null : normalizeImage(doc.Tools, c, prep),
  };
}

export const BASELINE_CASE = "defaults-no-config";
const ABSENT = { $absent: true };

let baselineImage;
export function baseline() {
  if (!baselineImage) {
    const e = JSON.parse(readFileSync(join(FIXTURES_DIR, BASELINE_CASE, "expected.json"), "utf8"));
    baselineImage = e.Images[0];
  }
  return baselineImage;
}

function deltaOf(img, base) {
  const o = {};
  for (const k of Object.keys(img)) if (!(k in base) || !deepEqual(img[k], base[k])) o[k] = img[k];
  for (const k of Object.keys(base)) if (!(k in img)) o[k] = ABSENT;
  return o;
}

function applyDelta(delta, base) {
  const o = { ...base };
  for (const [k, v] of Object.entries(delta)) {
    if (v && typeof v === "object" && !Array.isArray(v) && v.$absent === true) delete o[k];
    else o[k] = v;
  }
  return o;
}

/** Turn a normalized summary into the stored (delta) form. `base` = null stores images in full. */
export function compressSummary(summary, base) {
  const d = (img) => (base ? deltaOf(img, base) : img);
  return { Images: summary.Images.map(d), Tools: summary.Tools == null ? null : d(summary.Tools) };
}

/** Rebuild the full expected {Images, Tools} of a success case. */
export function expandExpected(c) {
  const e = c.expected;
  const base = c.name === BASELINE_CASE ? {} : baseline();
  return {
    Images: e.Images.map((d) => applyDelta(d, base)),
    Tools: e.Tools == null ? null : applyDelta(e.Tools, base),
  };
}

function show(v) {
  const s = JSON.stringify(v);
  return s === undefined ? "<missing>" : s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

function deepEqual(a, b) {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v).sort()) o[k] = sortKeys(v[k]);
    return o;
  }
  return v;
}

/** Field-by-field differences of two normalized image objects, as readable lines. */
export function diffImage(label, expected, actual) {
  const out = [];
  if (!actual || typeof actual !== "object") return [`${label}: expected an object, got ${show(actual)}`];
  const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  for (const k of keys) {
    if (!(k in actual)) out.push(`${label}.${k}: missing (expected ${show(expected[k])})`);
    else if (!(k in expected)) out.push(`${label}.${k}: unexpected key (got ${show(actual[k])})`);
    else if (!deepEqual(expected[k], actual[k]))
      out.push(`${label}.${k}: expected ${show(expected[k])}, got ${show(actual[k])}`);
  }
  return out;
}
