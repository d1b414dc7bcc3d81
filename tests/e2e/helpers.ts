// End-to-end helpers: small `Distribution=custom` config trees (no package manager, builds take well
// under a second) in temporary directories, each with its own engine cache, and runs of the real
// `bin/mkosi` as a child process. The compiled CLI (dist/) must be current: `npm test` builds it first.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { EngineEvent } from "../../engine/api.js";

export const REPO = resolve(import.meta.dirname, "../..");
export const MKOSI = join(REPO, "bin/mkosi");

/** Why the suite cannot run here, or undefined when it can. */
export function missingPrerequisite(tools: string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return "mkosi build needs root";
  if (!existsSync(join(REPO, "dist/cli/main.js"))) return "dist/ is missing: run npm run build";
  for (const tool of tools) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  return undefined;
}

/** Files relative to the config directory; content starting with "#!" is written executable. */
export type Files = Record<string, string>;

/** A minimal custom-distribution image: a skeleton (so scripts have an image to run in), an extra tree,
 * a build script and a postinst script. `BuildSources=src` keeps the config files themselves out of
 * the build script's inputs, so each change names exactly one input. */
export function customTree(overrides: Files = {}): Files {
  return {
    "mkosi.conf": conf({ ImageVersion: "1.0", Hostname: "alpha" }),
    "mkosi.skeleton/usr/lib/os-release": "ID=custom\n",
    "mkosi.extra/etc/motd": "hello\n",
    "src/main.c": "int main(void) { return 0; }\n",
    "mkosi.build": "#!/bin/sh\necho compiling main.c\necho installed\n",
    "mkosi.postinst": "#!/bin/sh\necho postinst ran\n",
    ...overrides,
  };
}

/** The nodes customTree() plans, in pipeline order. */
export const CUSTOM_TREE_NODES = [
  "skeleton",
  "build",
  "extras",
  "postinst",
  "config-files",
  "systemd-setup",
  "cleanup",
  "publish",
];

/** mkosi.conf text for a custom-distribution directory image with the given settings. */
export function conf(
  settings: { ImageVersion?: string; Hostname?: string; BuildSources?: string | null } = {},
) {
  const output = ["[Output]", "Format=directory"];
  if (settings.ImageVersion) output.push(`ImageVersion=${settings.ImageVersion}`);
  const content = ["[Content]"];
  if (settings.Hostname) content.push(`Hostname=${settings.Hostname}`);
  const build = ["[Build]"];
  if (settings.BuildSources !== null) build.push(`BuildSources=${settings.BuildSources ?? "src"}`);
  return ["[Distribution]", "Distribution=custom", "", ...output, "", ...content, "", ...build, ""].join(
    "\n",
  );
}

export interface Tree {
  /** The temporary directory holding config/ and cache/. */
  root: string;
  /** The config directory (mkosi runs here). */
  dir: string;
  /** The engine cache (MKOSI_CACHE_DIR), outside the config directory. */
  cache: string;
  write(files: Files): Promise<void>;
  remove(): Promise<void>;
}

export async function makeTree(files: Files): Promise<Tree> {
  const root = await mkdtemp(join(tmpdir(), "mkosi-e2e-"));
  const dir = join(root, "config");
  const cache = join(root, "cache");
  await mkdir(dir);
  const tree: Tree = {
    root,
    dir,
    cache,
    async write(more) {
      for (const [path, content] of Object.entries(more)) {
        const full = join(dir, path);
        await mkdir(dirname(full), { recursive: true });
        await writeFile(full, content);
        if (content.startsWith("#!")) await chmod(full, 0o755);
      }
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
  await tree.write(files);
  return tree;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Environment for a child mkosi: its own cache, no colour unless asked, no CI detection. */
export function childEnv(tree: Tree, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, MKOSI_CACHE_DIR: tree.cache, NO_COLOR: "1" };
  delete env.FORCE_COLOR;
  Object.assign(env, extra);
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
  return env;
}

/** Runs mkosi; with `input`, its stdin is a pipe that carries that text (else /dev/null). */
export function mkosi(
  tree: Tree,
  args: string[],
  extraEnv: Record<string, string | undefined> = {},
  options: { input?: string } = {},
): Promise<Run> {
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(MKOSI, args, {
      cwd: tree.dir,
      env: childEnv(tree, extraEnv),
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    if (options.input !== undefined) {
      child.stdin!.on("error", () => undefined); // nothing may read it
      child.stdin!.end(options.input);
    }
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

/** Runs mkosi and fails with its output when it does not exit 0. */
export async function mkosiOk(tree: Tree, args: string[], extraEnv: Record<string, string | undefined> = {}) {
  const run = await mkosi(tree, args, extraEnv);
  if (run.code !== 0) {
    throw new Error(
      `mkosi ${args.join(" ")} exited ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`,
    );
  }
  return run;
}

/** `mkosi --json build` (after `options`, e.g. ["-f"]): the events, and which nodes ran or were cached. */
export async function buildJson(tree: Tree, options: string[] = []) {
  const run = await mkosiOk(tree, [...options, "--json", "build"]);
  const events = run.stdout
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as EngineEvent);
  const ran = events.filter((e) => e.type === "started").map((e) => (e as { id: string }).id);
  const cached = events.filter((e) => e.type === "cached").map((e) => (e as { id: string }).id);
  return { run, events, ran, cached };
}

/** The node records of `mkosi graph --format=json`, by id. */
export async function graphJson(tree: Tree) {
  const run = await mkosiOk(tree, ["graph", "--format=json"]);
  const graph = JSON.parse(run.stdout) as GraphJson;
  return { graph, node: (id: string) => graph.nodes.find((n) => n.id === id)! };
}

export interface GraphChange {
  kind: string;
  name: string;
  change: string;
  old: unknown;
  new: unknown;
  files: { added: string[]; removed: string[]; modified: string[] } | null;
  summary: string;
}

export interface GraphJson {
  schemaVersion: number;
  groups: { name: string; nodes: string[] }[];
  nodes: {
    id: string;
    status: string;
    reason: string;
    deps: string[];
    changes: GraphChange[];
    upstream: string[];
    rootCauses: { chain: string[]; changes: GraphChange[] }[];
  }[];
  edges: { from: string; to: string }[];
}
