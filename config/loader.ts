// Loading a configuration tree: mkosi.conf, mkosi/ subdir, mkosi.conf.d/, mkosi.local*, default
// paths, includes (and the builtin ones), profiles, subimages (mkosi.images/) with dependencies,
// and the default tools tree.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ParsedArgs } from "./args.js";
import { ParseContext } from "./context.js";
import { BUILD_VERBS } from "./enums.js";
import { ConfigError, type Warn } from "./errors.js";
import { fnmatch } from "./glob.js";
import type { ImageConfig } from "./image.js";
import { decodeConfigText, parseIni } from "./ini.js";
import { checkSecret } from "./paths.js";
import { BUILTIN_INCLUDES } from "./settings/config-section.js";
import {
  DESTS,
  jsonKey,
  NON_CONFIG_DESTS,
  SECTIONS,
  SETTINGS,
  SETTINGS_BY_DEST,
  SETTINGS_BY_NAME,
  TOOLS_TREE_RENAMES,
} from "./settings/index.js";
import type { Setting } from "./settings/types.js";
import {
  makeDictParser,
  makeListParser,
  type ParseEnv,
  parseBoolean,
  parseKeyValueItem,
  runOrRead,
  type UkiProfile,
} from "./values.js";

export type { ImageConfig } from "./image.js";

export interface ResolvedConfig {
  images: ImageConfig[];
  tools: ImageConfig | null;
  args: ParsedArgs;
}

const KNOWN_SECTIONS = new Set<string>([...SECTIONS, "Host"]);
const PARSED_SECTIONS = new Set<string>([...KNOWN_SECTIONS, "Match", "TriggerMatch"]);

function readConfigFile(path: string): ReturnType<typeof parseIni> {
  let text: string;
  try {
    text = decodeConfigText(readFileSync(path), path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(
      e.code === "EISDIR" ? `Is a directory: '${path}'` : `Cannot read ${path}: ${e.message}`,
    );
  }
  return parseIni(text, path, PARSED_SECTIONS);
}

let resourcesDirCache: string | undefined;
/** Directory holding the builtin configuration trees (mkosi-tools, mkosi-initrd, …). */
export function resourcesDir(): string {
  if (resourcesDirCache) return resourcesDirCache;
  const candidates = [
    fileURLToPath(new URL("./resources/", import.meta.url)),
    fileURLToPath(new URL("../../config/resources/", import.meta.url)),
  ];
  for (const c of candidates) {
    if (existsSync(join(c, "mkosi-tools"))) {
      resourcesDirCache = c.replace(/\/$/, "");
      return resourcesDirCache;
    }
  }
  resourcesDirCache = (candidates[0] as string).replace(/\/$/, "");
  return resourcesDirCache;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function sortedEntries(dir: string): string[] {
  // Python's sorted() on paths: code point order.
  return readdirSync(dir).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function withWhere<T>(where: string, setting: string | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConfigError && !err.where) {
      err.where = where;
      if (setting) err.setting ??= setting;
    }
    throw err;
  }
}

const UKI_PROFILE_SETTINGS = {
  Profile: makeDictParser({ delimiter: "\n", item: parseKeyValueItem }),
  Cmdline: makeListParser({ delimiter: " " }),
  SignExpectedPcr: parseBoolean,
};

function parseUkiProfileFile(path: string, env: ParseEnv): UkiProfile {
  const sections = parseIni(readFileSync(path, "utf8"), path, new Set(["UKIProfile"]));
  const out: Record<string, unknown> = { Cmdline: [], Profile: {}, SignExpectedPcr: true };
  for (const sec of sections) {
    if (sec.name !== "UKIProfile") continue;
    for (const e of sec.entries) {
      const parse = UKI_PROFILE_SETTINGS[e.key as keyof typeof UKI_PROFILE_SETTINGS];
      if (!parse) throw new ConfigError(`Unknown setting ${e.key}`, { where: `${path}:${e.line}` });
      const v = withWhere(`${path}:${e.line}`, e.key, () => parse(e.value, out[e.key] ?? null, env));
      out[e.key] = v ?? (e.key === "SignExpectedPcr" ? true : e.key === "Cmdline" ? [] : {});
    }
  }
  return out as UkiProfile;
}

export class Loader {
  constructor(
    readonly args: ParsedArgs,
    readonly env: Record<string, string | undefined>,
    readonly warn: Warn,
  ) {}

  newContext(
    image: string,
    kind: "main" | "subimage" | "tools",
    cwd: string,
    shared?: ConstructorParameters<typeof ParseContext>[6],
  ): ParseContext {
    const ctx = new ParseContext(image, kind, this.args.directory, this.env, this.warn, cwd, shared);
    ctx.parseUkiProfile = parseUkiProfileFile;
    return ctx;
  }

  /** Parses one config file's settings (its [Match] sections are evaluated by the caller). */
  parseFile(ctx: ParseContext, path: string, sections = readConfigFile(path)): void {
    if (ctx.recordFiles) ctx.files.push(path);
    for (const sec of sections) {
      if (sec.name === "Match" || sec.name === "TriggerMatch") continue;
      if (!KNOWN_SECTIONS.has(sec.name)) continue;
      for (const e of sec.entries) {
        const where = `${path}:${e.line}`;
        // Warnings are worded (and ordered) as the reference's: the file without a line number.
        let key = e.key;
        if (key.startsWith("@")) {
          this.warn(`${path}: The '@' specifier is deprecated, please use ${key.slice(1)} instead of ${key}`);
          key = key.slice(1);
        }
        const s = SETTINGS_BY_NAME.get(key);
        if (!s) throw new ConfigError(`Unknown setting ${key}`, { where, setting: key });
        const why = ctx.prohibited(s);
        if (why) throw new ConfigError(why, { where, setting: s.name });
        if (s.section !== sec.name)
          this.warn(`${path}: Setting ${key} should be configured in [${s.section}], not [${sec.name}].`);
        if (s.name !== key) this.warn(`${path}: Setting ${key} is deprecated, please use ${s.name} instead.`);
        withWhere(where, s.name, () => {
          const value = ctx.expandSpecifiers(e.value, path);
          ctx.config.set(s.dest, s.parse(value, ctx.config.get(s.dest) ?? null, ctx.parseEnv()));
        });
        // Includes are parsed in place: after every assignment, any include not parsed yet is.
        this.parseNewIncludes(ctx, where);
      }
    }
  }

  /** Parses a file if its [Match] sections match. */
  parseFileIfMatches(ctx: ParseContext, path: string): boolean {
    const sections = readConfigFile(path);
    if (!ctx.matches(sections, path)) return false;
    this.parseFile(ctx, path, sections);
    return true;
  }

  parseNewIncludes(ctx: ParseContext, where?: string): void {
    const includes = (ctx.finalizeDest("include") as string[] | null) ?? [];
    for (const inc of includes) {
      let path = inc;
      if ((BUILTIN_INCLUDES as readonly string[]).includes(inc)) path = join(resourcesDir(), inc);
      let st: ReturnType<typeof statSync>;
      try {
        st = statSync(path);
      } catch {
        throw new ConfigError(`${path} does not exist`, { where, setting: "Include" });
      }
      const id = `${st.dev}:${st.ino}`;
      if (ctx.includesSeen.has(id)) continue;
      ctx.includesSeen.add(id);
      if (path !== inc) this.probeBuiltin(path);
      if (st.isDirectory()) this.parseDirectory(ctx, path, { profiles: true, local: false });
      else this.parseFileIfMatches(ctx, path);
    }
  }

  /**
   * Before a builtin configuration is included, the reference parses it once on its own, as the
   * main image of a configuration directory of its own (to find its scripts). Errors of that parse
   * (mkosi-obs outside the Open Build Service) are errors of every configuration including it, in
   * subimages too, and its warnings are printed.
   */
  private probeBuiltin(dir: string): void {
    const probe = new ParseContext("main", "main", dir, this.env, this.warn, dir);
    probe.parseUkiProfile = parseUkiProfileFile;
    this.parseDirectory(probe, dir, { profiles: false, local: false });
    this.finalizeAll(probe);
  }

  /** Feeds mkosi.<suffix> default paths of `dir` to their settings. */
  parseDefaultPaths(ctx: ParseContext, dir: string): void {
    const env = ctx.parseEnv(dir);
    for (const s of SETTINGS) {
      if (!s.paths && !s.recursivePaths) continue;
      if (ctx.prohibited(s)) continue;
      const found: string[] = [];
      for (const suffix of s.paths ?? []) {
        const p = join(dir, `mkosi.${suffix}`);
        if (existsSync(p)) found.push(p);
      }
      for (const glob of s.recursivePaths ?? []) {
        const slash = glob.lastIndexOf("/");
        const sub = join(dir, `mkosi.${glob.slice(0, slash)}`);
        const pattern = glob.slice(slash + 1);
        if (!isDir(sub)) continue;
        for (const name of sortedEntries(sub)) if (fnmatch(name, pattern)) found.push(join(sub, name));
      }
      for (const p of found) {
        withWhere(p, s.name, () => {
          let value = p;
          if (s.readText) {
            if (s.secret) checkSecret(p);
            value = runOrRead(p, dir, this.env).replace(/\n+$/, "");
          }
          ctx.config.set(s.dest, s.parse(value, ctx.config.get(s.dest) ?? null, env));
        });
      }
    }
  }

  /** parse_config_one: a config directory (mkosi.conf, local, default paths, conf.d, profiles). */
  parseDirectory(ctx: ParseContext, dir: string, opts: { profiles: boolean; local: boolean }): boolean {
    const saved = ctx.cwd;
    ctx.cwd = dir;
    try {
      const conf = join(dir, "mkosi.conf");
      let confSections: ReturnType<typeof parseIni> | undefined;
      if (existsSync(conf)) {
        confSections = readConfigFile(conf);
        if (!ctx.matches(confSections, conf)) return false;
      }
      if (opts.local) {
        // Local configuration (mkosi.local/, then mkosi.local.conf) is parsed first; after each, every
        // value of the config namespace (the local ones, and whatever was there before: CLI
        // includes' values, a subimage's inherited ones) moves to the CLI namespace as its current
        // value. So they beat all later files, the real command line still beats them, and an empty
        // assignment there fixes the default.
        const localDir = join(dir, "mkosi.local");
        if (isDir(localDir)) {
          this.parseDirectory(ctx, localDir, { profiles: false, local: false });
          ctx.moveConfigToCli();
        }
        const localConf = join(dir, "mkosi.local.conf");
        if (isFile(localConf)) {
          this.parseFileIfMatches(ctx, localConf);
          ctx.moveConfigToCli();
        }
      }
      this.parseDefaultPaths(ctx, dir);
      if (confSections) this.parseFile(ctx, conf, confSections);
      const confd = join(dir, "mkosi.conf.d");
      if (isDir(confd)) {
        for (const name of sortedEntries(confd)) {
          const p = join(confd, name);
          if (isDir(p)) this.parseDirectory(ctx, p, { profiles: false, local: false });
          else if (name.endsWith(".conf") && isFile(p)) this.parseFileIfMatches(ctx, p);
        }
      }
      if (opts.profiles) {
        const profiles = (ctx.finalizeDest("profiles") as string[] | null) ?? [];
        for (const profile of profiles) {
          const pdir = join(dir, "mkosi.profiles", profile);
          if (isDir(pdir)) this.parseDirectory(ctx, pdir, { profiles: false, local: false });
          const pconf = `${pdir}.conf`;
          if (isFile(pconf)) this.parseFileIfMatches(ctx, pconf);
        }
      }
      return true;
    } finally {
      ctx.cwd = saved;
    }
  }

  /** Applies the command line's setting assignments to the cli namespace. */
  applyCli(ctx: ParseContext): void {
    for (const a of this.args.assignments) {
      const s = a.setting;
      withWhere(`--${a.option}`, s.name, () => {
        let v: unknown;
        try {
          v = s.parse(a.value, ctx.cli.get(s.dest) ?? null, ctx.parseEnv(a.cwd));
        } catch (err) {
          if (!s.choices || !(err instanceof ConfigError)) throw err;
          // Like argparse's choices= check: a usage error.
          const names = s.short && !s.shortConst ? `-${s.short}/--${a.option}` : `--${a.option}`;
          const choices = [...s.choices, ""].map((c) => `'${c}'`).join(", ");
          const e = new ConfigError(
            `argument ${names}: invalid choice: '${a.value}' (choose from ${choices})`,
          );
          e.exitCode = 2;
          throw e;
        }
        ctx.cli.set(s.dest, v);
        if (v === null) ctx.cliWasNone.add(s.dest);
      });
    }
  }

  /** Merges .mkosi-private/history/latest.json (a previous build's CLI) into the cli namespace. */
  applyHistory(ctx: ParseContext, directory: string): void {
    const args = this.args;
    const rebuild = args.verb === "build" || args.force > 0;
    if (rebuild && !args.rerunBuildScripts) return;
    if (args.verb === "clean") return;
    const path = join(directory, ".mkosi-private", "history", "latest.json");
    if (!isFile(path)) return;
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`Failed to read ${path}: ${(err as Error).message}`);
    }
    for (const [key, value] of Object.entries(doc)) {
      const s = SETTINGS_BY_NAME.get(key);
      if (!s || s.section === "Include" || s.section === "Runtime") continue;
      if (ctx.cli.has(s.dest) && JSON.stringify(ctx.cli.get(s.dest)) !== JSON.stringify(value))
        this.warn(`Ignoring --${s.long[0]} from the CLI. Run with -f to rebuild the image with this setting`);
      ctx.cli.set(s.dest, value);
    }
  }

  /** Final values of every dest (defaults computed) for an image. */
  finalizeAll(ctx: ParseContext): Map<string, unknown> {
    const out = new Map<string, unknown>();
    for (const dest of DESTS) out.set(dest, ctx.finalizeDest(dest));
    return out;
  }

  load(): ResolvedConfig {
    const args = this.args;
    const cwd = args.directory ?? process.cwd();
    const main = this.newContext("main", "main", cwd);
    this.applyCli(main);
    if (args.directory !== null) this.applyHistory(main, args.directory);
    let configdir: string | null = null;
    // CLI includes are parsed first, into the config namespace, and not listed in Files (also with
    // --directory=, as the default initrd's configuration is resolved).
    const cliIncludes = (main.cli.get("include") as string[] | null) ?? [];
    if (cliIncludes.length > 0) {
      main.cli.delete("include");
      main.config.set("include", cliIncludes);
      main.recordFiles = false;
      this.parseNewIncludes(main, "--include");
      main.recordFiles = true;
    }
    if (args.directory !== null) {
      configdir = finalizeConfigdir(args.directory);
      if (args.verb === "bump" || (args.autoBump && BUILD_VERBS.has(args.verb)))
        bumpVersion(main, configdir, this.env);
      refuseLegacyDefault(configdir);
      this.parseDirectory(main, configdir, { profiles: true, local: true });
    }
    const mainValues = this.finalizeAll(main);

    let tools: ImageConfig | null = null;
    if (mainValues.get("tools_tree") === "default") {
      const toolsCtx = this.toolsContext(main, mainValues, configdir ?? cwd);
      tools = this.toJson(toolsCtx, this.finalizeAll(toolsCtx));
      mainValues.set("tools_tree", join(cwd, "mkosi.tools"));
    }

    const subimages: { name: string; values: Map<string, unknown>; ctx: ParseContext }[] = [];
    const imagesDir = configdir ? join(configdir, "mkosi.images") : null;
    if (imagesDir && isDir(imagesDir)) {
      const shared = subimageCli(main, mainValues);
      for (const name of sortedEntries(imagesDir)) {
        const p = join(imagesDir, name);
        const dir = isDir(p);
        if (!dir && !(name.endsWith(".conf") && isFile(p))) continue;
        const image = dir ? name : name.slice(0, -".conf".length);
        const sub = this.subimageContext(image, mainValues, configdir as string, shared);
        const ok = dir
          ? this.parseDirectory(sub, p, { profiles: true, local: true })
          : this.parseFileIfMatches(sub, p);
        if (!ok) continue;
        subimages.push({ name: image, values: this.finalizeAll(sub), ctx: sub });
      }
    }

    if (!main.cli.has("dependencies") && !main.config.has("dependencies"))
      mainValues.set(
        "dependencies",
        subimages.map((s) => s.name),
      );
    const ordered = resolveDependencies(
      subimages.map((s) => ({ name: s.name, deps: (s.values.get("dependencies") as string[]) ?? [] })),
      (mainValues.get("dependencies") as string[]) ?? [],
    );
    const images: ImageConfig[] = [];
    for (const name of ordered) {
      const s = subimages.find((x) => x.name === name);
      if (s) images.push(this.toJson(s.ctx, s.values));
    }
    images.push(this.toJson(main, mainValues));
    return { images, tools, args };
  }

  /** A subimage's context: the shared CLI namespace, the main image's final values of inherited
   * settings in its config namespace (overridable), and the passed environment. */
  subimageContext(
    image: string,
    mainValues: Map<string, unknown>,
    cwd: string,
    shared: ConstructorParameters<typeof ParseContext>[6],
  ): ParseContext {
    const sub = this.newContext(image, "subimage", cwd, shared);
    for (const s of SETTINGS)
      if (s.scope === "inherit") sub.config.set(s.dest, structuredClone(mainValues.get(s.dest) ?? null));
    sub.config.set("environment", passEnvironment(mainValues));
    return sub;
  }

  /** The default tools tree's context: the main image's final multiversal values as CLI values,
   * each ToolsTree* value in the namespace its main setting came from, then mkosi.tools.conf and
   * the builtin mkosi-tools. */
  toolsContext(main: ParseContext, mainValues: Map<string, unknown>, configdir: string): ParseContext {
    const t = this.newContext("tools", "tools", configdir);
    for (const s of SETTINGS)
      if (s.scope === "multiversal") t.cli.set(s.dest, structuredClone(mainValues.get(s.dest) ?? null));
    for (const [from, to] of Object.entries(TOOLS_TREE_RENAMES)) {
      const v = structuredClone(mainValues.get(from) ?? null);
      if (main.cli.has(from)) {
        t.cli.set(to, v);
        if (main.cliWasNone.has(from)) t.cliWasNone.add(to);
      } else if (main.config.has(from)) t.config.set(to, v);
      else t.defaults.set(to, v);
    }
    t.cli.set("output_format", "directory");
    t.config.set("environment", passEnvironment(mainValues));
    const toolsConf = join(configdir, "mkosi.tools.conf");
    if (isDir(toolsConf)) this.parseDirectory(t, toolsConf, { profiles: false, local: true });
    else if (isFile(toolsConf)) this.parseFileIfMatches(t, toolsConf);
    const inc = (t.config.get("include") as string[] | null) ?? [];
    t.config.set("include", [...inc, "mkosi-tools"]);
    this.parseNewIncludes(t);
    return t;
  }

  toJson(ctx: ParseContext, values: Map<string, unknown>): ImageConfig {
    const out: Record<string, unknown> = {};
    for (const dest of DESTS) {
      if (NON_CONFIG_DESTS.has(dest)) continue;
      out[jsonKey(dest)] = values.get(dest) ?? defaultEmpty(SETTINGS_BY_DEST.get(dest) as Setting);
    }
    out.Files = [...ctx.files];
    out.Image = ctx.image;
    const buildDir = values.get("build_dir");
    if (typeof buildDir === "string") {
      const key = values.get("build_key");
      if (key !== "-") {
        const expanded = expandKeySpecifiers(String(key), out as ImageConfig, this.warn);
        out.BuildSubdirectory = expanded ? `${buildDir}/${expanded}` : buildDir;
      } else out.BuildSubdirectory = buildDir;
    }
    return out as ImageConfig;
  }
}

function defaultEmpty(s: Setting): unknown {
  return s.kind === "list" ? [] : s.kind === "dict" ? {} : null;
}

/** The main image's Environment= entries named by PassEnvironment=. */
function passEnvironment(mainValues: Map<string, unknown>): Record<string, string> {
  const names = (mainValues.get("pass_environment") as string[]) ?? [];
  const env = (mainValues.get("environment") as Record<string, string>) ?? {};
  const out: Record<string, string> = {};
  for (const n of names) if (Object.hasOwn(env, n)) out[n] = env[n] as string;
  return out;
}

/**
 * The CLI namespace the subimages share: the main image's, without its values of settings that are
 * neither universal nor multiversal, and with the main image's final values of those (even unset
 * ones, so a subimage's own defaults never replace them). Which settings the command line emptied
 * stays known, as in the reference.
 */
function subimageCli(main: ParseContext, mainValues: Map<string, unknown>) {
  const cli = new Map(main.cli);
  for (const s of SETTINGS) {
    if (s.scope === "universal" || s.scope === "multiversal")
      cli.set(s.dest, structuredClone(mainValues.get(s.dest) ?? null));
    else cli.delete(s.dest);
  }
  return { cli, cliWasNone: new Set(main.cliWasNone) };
}

/** mkosi.default (and mkosi.default.d/) is the configuration file of mkosi before v15, with other
 * sections and settings: when it is all there is, say how to move on instead of building the defaults. */
function refuseLegacyDefault(dir: string): void {
  if (existsSync(join(dir, "mkosi.conf")) || existsSync(join(dir, "mkosi.conf.d"))) return;
  const legacy = ["mkosi.default", "mkosi.default.d"].filter((name) => existsSync(join(dir, name)));
  if (legacy.length === 0) return;
  throw new ConfigError(
    `${join(dir, legacy[0]!)} is the configuration of mkosi before version 15 and is not read anymore. Rename mkosi.default to mkosi.conf (and mkosi.default.d/ to mkosi.conf.d/), then check its sections: [Packages] settings moved to [Content], [Partitions] to mkosi.repart/ definitions, Format=raw_* became Format=disk, and the output settings are in [Output].`,
  );
}

/** Use <dir>/mkosi/ when <dir> has no mkosi.conf/mkosi.tools.conf but mkosi/ does. */
export function finalizeConfigdir(dir: string): string {
  if (existsSync(join(dir, "mkosi.conf")) || existsSync(join(dir, "mkosi.tools.conf"))) return dir;
  const sub = join(dir, "mkosi");
  if (isFile(join(sub, "mkosi.conf")) || existsSync(join(sub, "mkosi.tools.conf"))) return sub;
  return dir;
}

function bumpVersion(ctx: ParseContext, configdir: string, env: Record<string, string | undefined>): void {
  const versionFile = join(configdir, "mkosi.version");
  const bumpScript = join(configdir, "mkosi.bump");
  let current: string | null = null;
  if (isFile(versionFile)) {
    if (statSync(versionFile).mode & 0o111)
      throw new ConfigError(`Cannot bump image version when ${versionFile} is executable`);
    current = readFileSync(versionFile, "utf8").trim();
  }
  let next: string;
  if (isFile(bumpScript)) {
    next = runOrRead(bumpScript, configdir, env).trim();
  } else if (!current) {
    next = "1";
  } else {
    const parts = current.split(".");
    const last = parts[parts.length - 1] as string;
    if (/^\d+$/.test(last)) {
      parts[parts.length - 1] = String(Number(last) + 1);
      next = parts.join(".");
    } else next = `${current}.2`;
  }
  ctx.cli.set("image_version", next);
}

/** &-specifiers of CacheKey=/BuildKey=. */
export function expandKeySpecifiers(key: string, cfg: ImageConfig, warn: Warn): string {
  const map: Record<string, unknown> = {
    d: cfg.Distribution,
    r: cfg.Release,
    a: cfg.Architecture,
    i: cfg.ImageId,
    v: cfg.ImageVersion,
    I: cfg.Image,
  };
  return key.replace(/&([&a-zA-Z])/g, (_m, c: string) => {
    if (c === "&") return "&";
    if (!(c in map)) {
      warn(`Unknown specifier '&${c}' found in ${key}, ignoring`);
      return "";
    }
    const v = map[c];
    return v === null || v === undefined ? "" : String(v);
  });
}

/** Keeps the subimages reachable from main's Dependencies, in topological order (graphlib's). */
export function resolveDependencies(
  images: { name: string; deps: string[] }[],
  mainDeps: string[],
): string[] {
  const byName = new Map(images.map((i) => [i.name, i]));
  for (const d of mainDeps)
    if (!byName.has(d)) throw new ConfigError(`No image found with name ${d}`, { setting: "Dependencies" });
  for (const i of images)
    for (const d of i.deps)
      if (!byName.has(d)) throw new ConfigError(`No image found with name ${d}`, { setting: "Dependencies" });
  const reachable = new Set<string>();
  const stack = [...mainDeps];
  while (stack.length) {
    const n = stack.pop() as string;
    if (reachable.has(n)) continue;
    reachable.add(n);
    stack.push(...(byName.get(n)?.deps ?? []));
  }
  // Python graphlib.TopologicalSorter(graph).static_order()
  const order: string[] = [];
  const info = new Map<string, { npred: number; succ: string[] }>();
  const node = (n: string) => {
    let x = info.get(n);
    if (!x) {
      x = { npred: 0, succ: [] };
      info.set(n, x);
    }
    return x;
  };
  for (const i of images) {
    if (!reachable.has(i.name)) continue;
    const me = node(i.name);
    for (const d of i.deps) {
      node(d).succ.push(i.name);
      me.npred++;
    }
  }
  let ready = [...info.entries()].filter(([, x]) => x.npred === 0).map(([n]) => n);
  while (ready.length) {
    order.push(...ready);
    const next: string[] = [];
    for (const n of ready) {
      for (const s of info.get(n)?.succ ?? []) {
        const x = info.get(s) as { npred: number };
        x.npred--;
        if (x.npred === 0) next.push(s);
      }
    }
    ready = next;
  }
  if (order.length !== info.size) {
    // Find one cycle to report it as upstream does: a => b => a.
    const left = new Set([...info.entries()].filter(([, x]) => x.npred > 0).map(([n]) => n));
    const deps = new Map(images.map((i) => [i.name, i.deps.filter((d) => left.has(d))]));
    let cur = [...left][0] as string;
    const path: string[] = [];
    while (!path.includes(cur)) {
      path.push(cur);
      cur = deps.get(cur)?.[0] ?? cur;
    }
    const cycle = [...path.slice(path.indexOf(cur)), cur];
    throw new ConfigError(`Image dependency cycle detected: ${cycle.join(" => ")}`, {
      setting: "Dependencies",
    });
  }
  return order;
}

export async function loadConfig(
  args: ParsedArgs,
  opts: { env?: Record<string, string | undefined>; warn?: Warn } = {},
): Promise<ResolvedConfig> {
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`‣ ${m}\n`));
  return new Loader(args, opts.env ?? process.env, warn).load();
}
