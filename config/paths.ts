// Path values: expansion ($VARS, ~), the existence check of settings that require it, and
// resolution. Resolution follows realpath() on the part that exists, so a directory mkosi will
// create later (OutputDirectory=, CacheDirectory=, …) resolves the same as once it exists.
import { existsSync, lstatSync, readlinkSync, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { ConfigError } from "./errors.js";
import { nullable, record, str } from "./shape.js";
import { type ItemParser, itemParser, type ParseEnv, type Parser, parser } from "./values.js";

export const CONFIG_TREE = record({ Source: str, Target: nullable(str) });
export type ConfigTree = { Source: string; Target: string | null };

export function expandVars(s: string, env: Record<string, string | undefined>): string {
  return s.replace(/\$(\w+)|\$\{([^}]+)\}/g, (m, a: string | undefined, b: string | undefined) => {
    const name = a ?? b ?? "";
    const v = env[name];
    return v === undefined ? m : v;
  });
}

export function expandUser(s: string, env: Record<string, string | undefined>): string {
  if (s === "~" || s.startsWith("~/")) {
    const home = env.HOME ?? process.env.HOME ?? "/";
    return home + s.slice(1);
  }
  return s;
}

/** Lexical normalization of a path as a path object prints it: no "//", no "." components, no
 * trailing "/" ("..", which may follow a symlink, is kept). */
export function purePath(p: string): string {
  if (p === "") return ".";
  const lead = p.startsWith("//") && !p.startsWith("///") ? "//" : p.startsWith("/") ? "/" : "";
  const parts = p.split("/").filter((c) => c !== "" && c !== ".");
  const body = parts.join("/");
  return lead + body || (lead ? lead : ".");
}

/**
 * realpath() that also accepts paths that do not exist: symlinks are followed component by
 * component wherever they exist, ".." applies to the resolved prefix, and the missing rest is
 * appended as written. A symlink loop stops resolution (the rest is kept as is).
 */
export function resolvePath(p: string, cwd: string): string {
  const pending = (isAbsolute(p) ? p : `${cwd}/${p}`).split("/").reverse();
  let resolved = "";
  let links = 0;
  while (pending.length > 0) {
    const c = pending.pop() as string;
    if (c === "" || c === ".") continue;
    if (c === "..") {
      resolved = resolved.slice(0, Math.max(0, resolved.lastIndexOf("/")));
      continue;
    }
    const next = `${resolved}/${c}`;
    let target: string | null = null;
    try {
      if (lstatSync(next).isSymbolicLink()) target = readlinkSync(next);
    } catch {
      // Missing: keep the component as written.
    }
    if (target === null || links >= 40) {
      resolved = next;
      continue;
    }
    links++;
    if (target.startsWith("/")) resolved = "";
    pending.push(...target.split("/").reverse());
  }
  return resolved || "/";
}

export interface PathOptions {
  /** The path must exist (the default). */
  required?: boolean;
  /** …and be a directory. */
  directory?: boolean;
  resolve?: boolean;
  secret?: boolean;
  absolute?: boolean;
  constants?: readonly string[];
  exclude?: readonly string[];
}

function isRelativeTo(p: string, base: string): boolean {
  const a = purePath(p).split("/");
  const b = purePath(base).split("/");
  return b.length <= a.length && b.every((c, i) => a[i] === c);
}

export function checkSecret(path: string): void {
  const mode = statSync(path).mode;
  if (mode & 0o007)
    throw new ConfigError(
      `Permissions of '${path}' of '${(mode & 0o777).toString(8).padStart(4, "0")}' are too open.\n` +
        "When creating secret files use an access mode that restricts access to the owner only.",
    );
}

export function parsePathValue(value: string, env: ParseEnv, opts: PathOptions = {}): string {
  if (opts.constants?.includes(value)) return value;
  // Messages show the value with variables expanded but "~" as written.
  const shown = expandVars(value, env.env);
  const p = expandUser(shown, env.env);
  const abs = isAbsolute(p) ? p : join(env.cwd, p);
  if (opts.required ?? true) {
    if (!existsSync(abs)) throw new ConfigError(`${shown} does not exist`);
    if (opts.directory && !statSync(abs).isDirectory()) throw new ConfigError(`${shown} is not a directory`);
  }
  if (opts.absolute && !isAbsolute(p)) throw new ConfigError(`${shown} must be an absolute path`);
  // Checked on the path as written (relative paths are never under an absolute exclusion).
  for (const ex of opts.exclude ?? [])
    if (isRelativeTo(p, ex)) throw new ConfigError(`${purePath(p)} can not be relative to ${ex}`);
  const out = opts.resolve === false ? purePath(abs) : resolvePath(p, env.cwd);
  if (opts.secret && existsSync(out)) checkSecret(out);
  return out;
}

export function makePathParser(opts: PathOptions = {}): Parser<string> {
  return parser(str, (value, _old, env) => {
    if (value === null || value === "") return null;
    return parsePathValue(value, env, opts);
  });
}

export function makePathItem(opts: PathOptions = {}): ItemParser<string> {
  return itemParser(str, (value, env) => parsePathValue(value, env, opts));
}

/** Keys and certificates: a path when one exists under that name as written (no expansion), else
 * kept as given (a URI or an engine/provider key name). */
function makeKeyOrCertParser(secret: boolean): Parser<string> {
  return parser(str, (value, _old, env) => {
    if (value === null || value === "") return null;
    if (existsSync(isAbsolute(value) ? value : join(env.cwd, value)))
      return parsePathValue(value, env, { secret });
    return purePath(value);
  });
}

export const parseKey = makeKeyOrCertParser(true);
export const parseCertificate = makeKeyOrCertParser(false);

export interface TreeOptions {
  /** The source must exist (and with `directory`, be a directory). */
  required: boolean;
  directory?: boolean;
  /** The target may be a relative path. */
  relativeTarget?: boolean;
}

export function makeTreeItem(opts: TreeOptions): ItemParser<ConfigTree> {
  return itemParser(CONFIG_TREE, (value, env) => {
    const colon = value.indexOf(":");
    const src = colon >= 0 ? value.slice(0, colon) : value;
    const tgt = colon >= 0 ? value.slice(colon + 1) : null;
    const source = parsePathValue(src, env, { required: opts.required, directory: opts.directory });
    let target: string | null = null;
    if (tgt !== null) {
      // A path inside the image: variables are expanded, but not "~", and it is not resolved.
      const t = expandVars(tgt, env.env);
      if (!opts.relativeTarget && !t.startsWith("/")) throw new ConfigError(`${t} must be an absolute path`);
      target = purePath(t);
    }
    return { Source: source, Target: target } satisfies ConfigTree;
  });
}
