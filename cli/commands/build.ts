// `mkosi build`: plan, explain (--explain), run on the engine with a renderer for the terminal, a plain
// log for pipes or JSON events (--json), and report "up to date" when nothing had to run.
import { readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EngineEvent } from "../../engine/api.js";
import { build } from "../../tasks/build.js";
import { outputDirectory, outputPaths } from "../../tasks/outputs.js";
import { planBuild } from "../../tasks/plan.js";
import { shouldColor } from "../render/format.js";
import { createRenderer, renderExplain } from "../render/index.js";
import { type CommandInput, openCache, planEnv, plannedNodes } from "./session.js";
import { buildTerminal } from "./terminal.js";

export interface BuildCommandInput extends CommandInput {
  /** --explain: print which nodes will run and why before running. */
  explain: boolean;
  /** --trace FILE: write a Chrome trace of the build. */
  trace?: string;
  /** --check[=N]: re-execute cached steps and compare their outputs. */
  check?: boolean | number;
}

async function wipeBuildDirectories(input: CommandInput): Promise<void> {
  for (const image of input.images) {
    const dir = image.BuildDirectory;
    if (!dir) continue;
    for (const entry of await readdir(dir).catch(() => [] as string[])) {
      await rm(join(dir, entry), { recursive: true, force: true });
    }
  }
}

/** Directories a build writes to: the host directories that hold one stay writable for it. */
function writableDirectories(input: CommandInput, env: ReturnType<typeof planEnv>): string[] {
  const dirs = [env.cacheDir, env.packageCacheDir, input.directory, tmpdir()];
  for (const image of input.images) {
    dirs.push(outputDirectory(image, input.directory));
    if (image.BuildDirectory) dirs.push(image.BuildDirectory);
    if (image.CacheDirectory) dirs.push(image.CacheDirectory);
  }
  return dirs;
}

export async function buildCommand(input: BuildCommandInput): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      "mkosi: building images needs root, or a user namespace in which the caller is root (the mkosi command enters one by itself)\n",
    );
    return 1;
  }
  const env = planEnv(input);
  // In mkosi's own mount namespace (bin/mkosi), the host's /usr, /etc, ... become read-only for the build.
  const { protectHostDirectories } = await import("../../sandbox/namespace.js");
  await protectHostDirectories(writableDirectories(input, env));
  const engine = await openCache(env, {
    keepFailedWorkspaces: input.debugWorkspace,
    remote: input.remote,
    secretKey: input.secretKey,
  });
  const abort = new AbortController();
  const stream = input.json ? process.stdout : process.stderr;
  const renderer = await createRenderer({
    mode: input.json ? "json" : "auto",
    stream,
    traceFile: input.trace,
  });
  const terminal = buildTerminal(renderer);
  // The first Ctrl-C cancels the build (a second one, with no listener left, ends mkosi at once); while a
  // debug shell has the terminal, Ctrl-C is the shell's.
  const onInterrupt = () => {
    if (terminal.busy()) return;
    process.off("SIGINT", onInterrupt);
    abort.abort(new Error("interrupted"));
  };
  const onTerminate = () => abort.abort(new Error("interrupted"));
  process.on("SIGINT", onInterrupt);
  process.once("SIGTERM", onTerminate);
  try {
    if (input.explain) {
      const plan = planBuild(input.images, env, input.tools, input.initrds);
      const explanations = await engine.explain(plan.nodes);
      const color = shouldColor(process.stderr);
      process.stderr.write(`${renderExplain(explanations, { nodes: plannedNodes(plan), color })}\n`);
    }
    if (input.wipeBuildDir) await wipeBuildDirectories(input);
    const result = await build({
      images: input.images,
      tools: input.tools,
      initrds: input.initrds,
      env: {
        ...env,
        options: {
          ...env.options,
          rerunBuildScripts: env.options.rerunBuildScripts || input.wipeBuildDir,
          check: input.check ?? false,
        },
        terminal: terminal.handoff,
      },
      engine,
      signal: abort.signal,
      onEvent: (event: EngineEvent) => renderer.onEvent(event),
    });
    // Through the renderer while it still owns the terminal, so the ink view does not overdraw it.
    const say = (text: string) => (renderer.note ? renderer.note(text) : process.stderr.write(`${text}\n`));
    const kept = new Set(result.kept ?? []);
    for (const path of kept)
      say(`${path} was changed since it was published: kept as it is (mkosi -f build replaces it)`);
    if (result.upToDate && !input.check && !input.json) {
      for (const image of result.plan.images) {
        const [main] = outputPaths(image.image, input.directory);
        if (main && !kept.has(main)) say(`${main} is up to date`);
      }
    }
    await renderer.close();
    return result.summary.ok ? 0 : 1;
  } finally {
    await renderer.close();
    process.off("SIGINT", onInterrupt);
    process.off("SIGTERM", onTerminate);
    await engine.close();
  }
}
