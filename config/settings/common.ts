// Helpers to write the settings table compactly.
import { ConfigError } from "../errors.js";
import { fnmatch } from "../glob.js";
import {
  makePathItem,
  makePathParser,
  makeTreeItem,
  type PathOptions,
  purePath,
  type TreeOptions,
} from "../paths.js";
import {
  type ItemParser,
  type ListOptions,
  makeEnumParser,
  makeListParser,
  type Parser,
  parseFeatureValue,
  versionMatches,
} from "../values.js";
import type { Kind, Scope, Section, Setting } from "./types.js";

type Extra = Partial<Omit<Setting, "name" | "section" | "scope" | "parse" | "kind" | "shadowed">>;

function snake(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .toLowerCase();
}

/** One entry of the settings table; its literal name, scope, kind and the type its parser produces
 * make up the type of an image's configuration (ImageConfig). */
export function def<const N extends string, const Sc extends Scope, const K extends Kind, T>(
  name: N,
  section: Section,
  scope: Sc,
  kind: K,
  parse: Parser<T>,
  extra: Extra = {},
): Setting<N, Sc, K, T, false> {
  const dest = extra.dest ?? snake(name);
  return {
    name,
    section,
    scope,
    kind,
    parse,
    dest,
    tools: extra.tools ?? false,
    long: extra.long ?? [dest.replace(/_/g, "-")],
    ...extra,
    shadowed: false,
  };
}

/** Marks a setting whose dest a later setting shares (and names in JSON). */
export function shadowed<N extends string, Sc extends Scope, K extends Kind, T>(
  s: Setting<N, Sc, K, T, false>,
): Setting<N, Sc, K, T, true> {
  return { ...s, shadowed: true };
}

export const list = <T = string>(opts: ListOptions<T> = {}) => makeListParser<T>(opts);
export const pathList = (opts: PathOptions = {}) => makeListParser({ item: makePathItem(opts) });
export const treeList = (opts: TreeOptions) => makeListParser({ item: makeTreeItem(opts) });
export const path = (opts: PathOptions = {}) => makePathParser(opts);
export const enumOf = <const V extends string>(
  typeName: string,
  values: readonly V[],
  bools?: { yes: V; no: V },
) => makeEnumParser(typeName, values, bools);
export type { ItemParser };

// Matchers ---------------------------------------------------------------------------------------

export const matchEnum =
  (parse: Parser, typeName: string) =>
  (actual: unknown, value: string): boolean => {
    const v = parse(value, null, { cwd: "/", env: {}, warn: () => {} });
    if (v === null) throw new ConfigError(`'${value}' is not a valid ${typeName}`);
    return v === actual;
  };
export const matchString = (actual: unknown, value: string): boolean => actual === value;
export const matchGlob = (actual: unknown, value: string): boolean => fnmatch(String(actual), value);
/** An empty match matches an empty list; otherwise the (parsed) value must be an element. */
export const matchListOf =
  (parse: (value: string) => string = (v) => v) =>
  (actual: unknown, value: string): boolean => {
    const l = (actual as string[] | null) ?? [];
    return value === "" ? l.length === 0 : l.includes(parse(value));
  };
export const matchList = matchListOf();
export const matchVersion = (actual: unknown, value: string): boolean =>
  versionMatches(String(actual), value);
export const matchFeature = (actual: unknown, value: string): boolean => parseFeatureValue(value) === actual;
/** The match, without its leading "/", must equal a target (so an absolute target never matches). */
export const matchBuildSources = (actual: unknown, value: string): boolean => {
  const want = purePath(value.replace(/^\/+/, ""));
  return ((actual as { Source: string; Target: string | null }[]) ?? []).some(
    (t) => t.Target !== null && t.Target !== "" && t.Target === want,
  );
};
export const matchKeyValue = (actual: unknown, value: string): boolean => {
  const env = (actual as Record<string, string>) ?? {};
  const eq = value.indexOf("=");
  if (eq < 0) return Object.hasOwn(env, value);
  const k = value.slice(0, eq);
  return Object.hasOwn(env, k) && env[k] === value.slice(eq + 1);
};
