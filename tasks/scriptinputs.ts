// Declared inputs shared by every step that runs user scripts: the scripts' content, the build sources
// they see at /work/src, environment files, the environment they get, and $MKOSI_CONFIG.

import { join } from "node:path";
import type { Json, PathDeclaration, TaskContext } from "../engine/api.js";
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
  /** Build sources mounted at /work/src. */
  sources: { tree: ConfigTree; exclude: string[] }[];
  /** BuildSourcesEphemeral= for this kind (see sandbox/scripts.ts ephemeralSources). */
  ephemeral: boolean | { persistIn: string };
  environmentFiles: string[];
  /** $MKOSI_CONFIG as the scripts get it. */
  configJson: string;
  /** JSON names of the secret settings: their values enter the key as secrets. */
  secretSettings: readonly string[];
  env: Record<string, string>;
}

/** Fields of $MKOSI_CONFIG that change on every invocation without changing the build. */
const VOLATILE_CONFIG_FIELDS = ["Seed"];

/** $MKOSI_CONFIG as a key sees it: without the per-invocation random Seed, and with the secret settings
 * apart (declared as secrets: the cache keeps only keyed digests of them). */
export function stableConfigJson(
  configJson: string,
  secretSettings: readonly string[],
): { config: Json; secrets: Record<string, Json> } {
  const config = JSON.parse(configJson) as Record<string, Json>;
  for (const field of VOLATILE_CONFIG_FIELDS) delete config[field];
  const secrets: Record<string, Json> = {};
  for (const field of secretSettings) {
    if (!(field in config)) continue;
    secrets[field] = config[field]!;
    delete config[field];
  }
  return { config, secrets };
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

/** How scripts of `kind` see the build sources (BuildSourcesEphemeral=; sync scripts always see them as
 * they are, so they can update them). */
function ephemeralSources(kind: ScriptKind, image: ImageView): ScriptInputs["ephemeral"] {
  const mode = image.BuildSourcesEphemeral;
  if (kind === "sync" || mode === "no") return false;
  if (mode === "buildcache" && kind === "build") {
    const dir = image.BuildSubdirectory ?? image.BuildDirectory;
    if (!dir)
      throw new Error(
        "BuildSourcesEphemeral=buildcache was configured, but there is no build directory: configure BuildDirectory= or create mkosi.builddir/",
      );
    return { persistIn: dir };
  }
  return true;
}

/** Every script kind sees the build sources at /work/src ($SRCDIR), as in mkosi: they are inputs of every
 * step that runs scripts. */
export function scriptInputs(
  kind: ScriptKind,
  scripts: string[],
  image: ImageView,
  env: PlanEnv,
): ScriptInputs {
  // Without scripts nothing reads anything (and reading the configuration would make it an input).
  if (scripts.length === 0)
    return {
      kind,
      base: env.configDir,
      scripts,
      sources: [],
      ephemeral: false,
      environmentFiles: [],
      configJson: "{}",
      secretSettings: [],
      env: {},
    };
  return {
    kind,
    base: env.configDir,
    scripts,
    sources: image.BuildSources.map((tree) => ({ tree, exclude: sourceExcludes(image, env, tree.Source) })),
    ephemeral: ephemeralSources(kind, image),
    environmentFiles: image.EnvironmentFiles,
    configJson: env.configJson(image),
    secretSettings: env.secretSettings,
    // The environment the scripts get, with the ids they run as (scriptRunBase passes the same).
    env: scriptEnvironment({
      kind,
      scripts,
      config: image,
      workDir: "/",
      uid: env.uid,
      gid: env.gid,
    } as ScriptRunOptions),
  };
}

export function declareScriptInputs(s: ScriptInputs): {
  paths: PathDeclaration[];
  values: Record<string, Json>;
  secrets: Record<string, Json>;
  env: Record<string, string>;
} {
  // Without scripts nothing reads anything.
  if (s.scripts.length === 0) return { paths: [], values: {}, secrets: {}, env: {} };
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
  const { config, secrets } = stableConfigJson(s.configJson, s.secretSettings);
  const secret: Record<string, Json> = Object.keys(secrets).length > 0 ? { MKOSI_CONFIG: secrets } : {};
  return { paths, values: { MKOSI_CONFIG: config }, secrets: secret, env: s.env };
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
    ephemeralSources: p.scripts.ephemeral,
    uid: p.uid,
    gid: p.gid,
    signal: ctx.signal,
    onOutput: (line: string, stream: "stdout" | "stderr") => ctx.log(line, stream),
    debugShell: p.debugShell,
  };
}
