// Declared inputs shared by every step that runs user scripts: the scripts' content, the build sources
// they see at /work/src, environment files, the environment they get, and $MKOSI_CONFIG.

import { join } from "node:path";
import type { Json, PathInput, TaskContext } from "../engine/api.js";
import { readdirNames } from "../engine/filenames.js";
import { outputNames } from "../formats/naming.js";
import type { TerminalHandoff } from "../sandbox/run.js";
import { type ScriptKind, type ScriptRunOptions, scriptEnvironment } from "../sandbox/scripts.js";
import type { PlanEnv } from "./env.js";
import type { ConfigTree, ImageView } from "./image.js";
import { outputDirectory } from "./outputs.js";
import { pathInputs } from "./trees.js";

export interface ScriptInputs {
  kind: ScriptKind;
  /** The configuration directory: path labels are relative to it. */
  base: string;
  scripts: string[];
  /** Build sources mounted at /work/src (prepare, build; others see them too but must not depend on
   * them for the image content, as in mkosi; they are declared for the kinds that read them). */
  sources: { tree: ConfigTree; exclude: string[] }[];
  environmentFiles: string[];
  /** $MKOSI_CONFIG without the per-invocation random Seed. */
  configJson: string;
  env: Record<string, string>;
}

/** Fields of $MKOSI_CONFIG that change on every invocation without changing the build. */
const VOLATILE_CONFIG_FIELDS = ["Seed"];

export function stableConfigJson(configJson: string): Json {
  const object = JSON.parse(configJson) as Record<string, Json>;
  for (const field of VOLATILE_CONFIG_FIELDS) delete object[field];
  return object;
}

/** Top-level entries of a configuration directory that belong to mkosi: `mkosi`, `mkosi.*`. */
function configEntries(dir: string): string[] {
  try {
    // Byte-exact names, so that an excluded name is the one the fingerprint walk sees.
    return readdirNames(dir).filter((name) => name === "mkosi" || name.startsWith("mkosi."));
  } catch {
    return [];
  }
}

/** Paths that live inside a build source but are mkosi's own state or products, not sources: caches,
 * the build directory, and the outputs (which default to the configuration directory). */
export function sourceExcludes(image: ImageView, env: PlanEnv, source: string): string[] {
  const outputs = outputDirectory(image, env.configDir);
  const own = [
    // A dedicated output directory inside the sources is excluded whole (every image's outputs).
    outputs !== env.configDir ? outputs : undefined,
    image.CacheDirectory,
    image.PackageCacheDirectory,
    image.BuildDirectory,
    env.cacheDir,
    env.packageCacheDir,
    ...outputNames(image).all.map((name) => join(outputs, name)),
    ...[
      "mkosi.output",
      "mkosi.cache",
      "mkosi.pkgcache",
      "mkosi.builddir",
      "mkosi.tools",
      ".mkosi-private",
    ].map((name) => join(env.configDir, name)),
  ];
  const excludes = new Set<string>();
  // The configuration itself (mkosi.conf, mkosi.extra/, mkosi.build, ...): each part is an input of the
  // steps that use it through its setting, so editing mkosi.extra/ must not look like a source change to
  // the prepare and build scripts.
  if (source === env.configDir) {
    for (const entry of configEntries(source)) excludes.add(entry);
  }
  for (const path of own) {
    if (path?.startsWith(`${source}/`)) excludes.add(path.slice(source.length + 1));
  }
  return [...excludes].sort();
}

export function scriptInputs(
  kind: ScriptKind,
  scripts: string[],
  image: ImageView,
  env: PlanEnv,
  withSources: boolean,
): ScriptInputs {
  return {
    kind,
    base: env.configDir,
    scripts,
    sources: withSources
      ? image.BuildSources.map((tree) => ({ tree, exclude: sourceExcludes(image, env, tree.Source) }))
      : [],
    environmentFiles: image.EnvironmentFiles,
    configJson: env.configJson(image),
    env: scriptEnvironment({ kind, scripts, config: image, workDir: "/" } as ScriptRunOptions),
  };
}

export function declareScriptInputs(s: ScriptInputs): {
  paths: Record<string, PathInput>;
  values: Record<string, Json>;
  env: Record<string, string>;
} {
  const paths = pathInputs(s.base, [
    ...s.scripts.map((path) => ({ setting: `${s.kind} script`, path })),
    ...s.sources.map(({ tree, exclude }) => ({
      setting: "BuildSources",
      path: tree.Source,
      target: tree.Target,
      exclude,
    })),
    ...s.environmentFiles.map((path) => ({ setting: "EnvironmentFiles", path })),
  ]);
  // Without scripts nothing reads $MKOSI_CONFIG or the script environment.
  if (s.scripts.length === 0) return { paths, values: {}, env: {} };
  return { paths, values: { MKOSI_CONFIG: stableConfigJson(s.configJson) }, env: s.env };
}

/** The parameters every script step carries. */
export interface ScriptStepParams {
  image: ImageView;
  scripts: ScriptInputs;
  uid: number;
  gid: number;
  /** --debug-shell (not an input: it only acts after a failure). */
  debugShell?: TerminalHandoff;
}

/** The runScripts options every script step passes the same way; steps add root, tools, outputs, ... */
export function scriptRunBase(ctx: TaskContext, p: ScriptStepParams) {
  return {
    kind: p.scripts.kind,
    scripts: p.scripts.scripts,
    config: p.image,
    configJson: p.scripts.configJson,
    workDir: join(ctx.tmp, "scripts"),
    uid: p.uid,
    gid: p.gid,
    signal: ctx.signal,
    onOutput: (line: string, stream: "stdout" | "stderr") => ctx.log(line, stream),
    debugShell: p.debugShell,
  };
}
