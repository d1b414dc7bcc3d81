// Value parsers. Every parser has the shape (value, old, env) → new value, where `value === null`
// asks for the empty/default value and `value === ""` is an empty assignment (reset, returns null
// for most parsers). Parsed values are already in their JSON form (strings, numbers, arrays,
// {Source, Target} objects …), so the resolved config prints without conversion.
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, isAbsolute, join } from "node:path";
import {
  COMPRESSIONS,
  SPLIT_ARTIFACTS,
  SPLIT_ARTIFACTS_DEFAULT,
  SPLIT_ARTIFACTS_YES,
  type SplitArtifact,
} from "./enums.js";
import { ConfigError, type Warn } from "./errors.js";
import { parsePathValue } from "./paths.js";
import {
  bool,
  dictOf,
  listOf,
  nullable,
  num,
  oneOf,
  record,
  type Shape,
  type ShapeOf,
  str,
  tupleOf,
} from "./shape.js";

export interface ParseEnv {
  /** Directory that relative paths resolve against (the directory being parsed). */
  cwd: string;
  /** The process environment (mkosi's own environment). */
  env: Record<string, string | undefined>;
  warn: Warn;
  /** Parses a simple ini file (for UKI profiles); injected to avoid an import cycle. */
  parseUkiProfile?: (path: string, env: ParseEnv) => UkiProfile;
}

export const UKI_PROFILE = record({ Cmdline: listOf(str), Profile: dictOf(str), SignExpectedPcr: bool });
export type UkiProfile = ShapeOf<typeof UKI_PROFILE>;

/** A setting's parser, carrying the shape of what it produces (see shape.ts). */
export interface Parser<T = unknown> {
  (value: string | null, old: unknown, env: ParseEnv): T | null;
  readonly shape: Shape<T>;
}

/** Parses one element of a list setting. */
export interface ItemParser<T = unknown> {
  (value: string, env: ParseEnv): T;
  readonly shape: Shape<T>;
}

/** A parser producing values of `shape` (the shape alone decides the type). */
export function parser<T>(
  shape: Shape<T>,
  parse: (value: string | null, old: unknown, env: ParseEnv) => NoInfer<T> | null,
): Parser<T> {
  return Object.assign(parse, { shape });
}

export function itemParser<T>(
  shape: Shape<T>,
  parse: (value: string, env: ParseEnv) => NoInfer<T>,
): ItemParser<T> {
  return Object.assign(parse, { shape });
}

const TRUE = new Set(["1", "true", "yes", "y", "t", "on", "always"]);
const FALSE = new Set(["0", "false", "no", "n", "f", "off", "never"]);

export function tryParseBoolean(s: string): boolean | null {
  const v = s.toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  return null;
}

export function parseBooleanStrict(s: string): boolean {
  const b = tryParseBoolean(s);
  if (b === null) throw new ConfigError(`Invalid boolean literal: '${s}'`);
  return b;
}

export const parseBoolean = parser(bool, (value) => {
  if (value === null) return false;
  if (value === "") return null;
  return parseBooleanStrict(value);
});

export const FEATURES = ["enabled", "disabled", "auto"] as const;
export type Feature = (typeof FEATURES)[number];

const COMPRESSION_SHAPE = oneOf([...new Set(Object.values(COMPRESSIONS))]);

export function parseFeatureValue(value: string): Feature {
  if (value === "auto" || value === "enabled" || value === "disabled") return value;
  const b = tryParseBoolean(value);
  if (b === null) throw new ConfigError(`Invalid boolean literal: '${value}'`);
  return b ? "enabled" : "disabled";
}

export const parseFeature = parser(oneOf(FEATURES), (value) => {
  if (value === null) return "auto";
  if (value === "") return null;
  return parseFeatureValue(value);
});

export function makeEnumParser<const V extends string>(
  typeName: string,
  values: readonly V[],
  bools?: { yes: V; no: V },
): Parser<V> {
  return parser(oneOf(values), (value) => {
    if (value === null || value === "") return null;
    if ((values as readonly string[]).includes(value)) return value as V;
    if (bools) {
      const b = tryParseBoolean(value);
      if (b !== null) return b ? bools.yes : bools.no;
    }
    throw new ConfigError(`'${value}' is not a valid ${typeName} (expected one of ${values.join(", ")})`);
  });
}

export const parseString = parser(str, (value) => (value === null || value === "" ? null : value));

export const parseCompression = parser(COMPRESSION_SHAPE, (value) => {
  if (value === null || value === "") return null;
  const c = COMPRESSIONS[value];
  if (c !== undefined) return c;
  const b = tryParseBoolean(value);
  if (b === null) throw new ConfigError(`Invalid boolean literal: '${value}'`);
  return b ? "zstd" : "none";
});

function parseIntStrict(value: string, what: string): number {
  const v = value.trim();
  if (!/^[+-]?\d+$/.test(v)) throw new ConfigError(`'${value}' is not a valid ${what}`);
  return Number.parseInt(v, 10);
}

export const parseNumber = parser(num, (value) => {
  if (value === null || value === "") return null;
  return parseIntStrict(value, "number");
});

export const parseCompressLevel = parser(num, (value) => {
  if (value === null || value === "") return null;
  if (!/^\s*[+-]?\d+\s*$/.test(value))
    throw new ConfigError(`Compression level '${value}' is not a valid integer`);
  return Number.parseInt(value, 10);
});

export const parseSourceDateEpoch = parser(num, (value) => {
  if (value === null || value === "") return null;
  let n: number;
  try {
    n = parseIntStrict(value, "timestamp");
  } catch {
    throw new ConfigError(`Timestamp '${value}' is not a valid integer`);
  }
  if (n < 0) throw new ConfigError(`Source date epoch timestamp cannot be negative (got ${value})`);
  return n;
});

export const parseSectorSize = parser(num, (value) => {
  if (value === null || value === "") return null;
  let n: number;
  try {
    n = parseIntStrict(value, "sector size");
  } catch {
    throw new ConfigError(`'${value}' is not a valid number`);
  }
  if (n < 512 || n > 4096) throw new ConfigError(`Sector size not between 512 and 4096: ${n}`);
  if ((n & (n - 1)) !== 0) throw new ConfigError(`Sector size not power of 2: ${n}`);
  return n;
});

export const parseMode = parser(num, (value) => {
  if (value === null || value === "") return null;
  const v = value.trim();
  if (!/^(0o)?[0-7]+$/i.test(v))
    throw new ConfigError(`Access mode '${value}' is not a valid integer in base 8`);
  const n = Number.parseInt(v.replace(/^0o/i, ""), 8);
  if (n > 0o7777) throw new ConfigError(`Invalid access mode: ${value}`);
  return n;
});

export const parseVsockCid = parser(num, (value) => {
  if (value === null || value === "") return null;
  if (value === "auto") return -1;
  if (value === "hash") return -2;
  let n: number;
  try {
    n = parseIntStrict(value, "number");
  } catch {
    throw new ConfigError(`VSockCID= must be a number, 'auto' or 'hash' (got '${value}')`);
  }
  if (n < 3 || n >= 0xffffffff)
    throw new ConfigError(`${n} is not in the valid VSock connection ID range [3, 0xFFFFFFFF)`);
  return n;
});

/** Sizes with K/M/G (1024-based), fractional allowed, rounded up to a multiple of 4096. */
export function parseBytesValue(value: string): number {
  let v = value.trim();
  let factor = 1;
  const last = v.slice(-1);
  if (last === "K" || last === "M" || last === "G" || last === "T") {
    factor = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[last] as number;
    v = v.slice(0, -1);
  }
  if (!/^\d+(\.\d*)?$|^\.\d+$/.test(v)) throw new ConfigError(`Invalid size: '${value}'`);
  const n = Math.ceil(Number.parseFloat(v) * factor);
  if (n % 4096 !== 0) return n + 4096 - (n % 4096);
  return n;
}

export const parseBytes = parser(num, (value) => {
  if (value === null || value === "") return null;
  return parseBytesValue(value);
});

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export function normalizeUuid(value: string): string | null {
  let v = value.trim();
  if (v.startsWith("{") && v.endsWith("}")) v = v.slice(1, -1);
  v = v.replace(/^urn:uuid:/i, "");
  if (!UUID_RE.test(v)) return null;
  const hex = v.replace(/-/g, "").toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const parseUuid = parser(str, (value) => {
  if (value === null || value === "") return null;
  if (value === "random") return randomUUID();
  const u = normalizeUuid(value);
  if (u === null) throw new ConfigError(`${value} is not a valid UUID`);
  return u;
});

export const parseFilename = parser(str, (value) => {
  if (value === null || value === "") return null;
  if (value.includes("/") || value === "." || value === "..")
    throw new ConfigError(
      `'${value}' is not a valid filename.\n(Output= or --output= requires a filename with no path components. ` +
        "Use OutputDirectory= or --output-directory= to configure the output directory.)",
    );
  return value;
});

export const parseRootPassword = parser(tupleOf(str, bool), (value): [string, boolean] | null => {
  if (value === null || value === "") return null;
  const v = value.trim();
  return v.startsWith("hashed:") ? [v.slice("hashed:".length), true] : [v, false];
});

export const parseProfile = (value: string): string => {
  if (!/^[A-Za-z0-9_.-]+$/.test(value) || value === "." || value === "..")
    throw new ConfigError(
      `'${value}' is not a valid profile\n(Profiles= or --profile= requires a name with no path components.)`,
    );
  return value;
};

const KEY_SOURCE_TYPES = { key: ["file", "engine", "provider"], certificate: ["file", "provider"] } as const;
type KeySource = { Source: string; Type: "file" | "engine" | "provider" };

export function parseKeySourceValue(value: string, what: "key" | "certificate"): KeySource {
  const colon = value.indexOf(":");
  const typ = colon >= 0 ? value.slice(0, colon) : value;
  const src = colon >= 0 ? value.slice(colon + 1) : "";
  const types: readonly string[] = KEY_SOURCE_TYPES[what];
  if (!types.includes(typ)) throw new ConfigError(`'${typ}' is not a valid ${what} source`);
  return { Source: src, Type: typ as KeySource["Type"] };
}

export function makeKeySourceParser(what: "key" | "certificate"): Parser<KeySource> {
  return parser(record({ Source: str, Type: oneOf(KEY_SOURCE_TYPES[what]) }), (value) => {
    if (value === null || value === "") return { Source: "", Type: "file" };
    return parseKeySourceValue(value, what);
  });
}

// ------------------------------------------------------------------------------------------------
// Collections

/** POSIX shell-like splitting (quotes, backslashes) on the given whitespace characters. */
export function shlexSplit(s: string, whitespace: string): string[] {
  const out: string[] = [];
  let cur = "";
  let have = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (whitespace.includes(c)) {
      if (have) out.push(cur);
      cur = "";
      have = false;
      i++;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new ConfigError(`No closing quotation in ${s}`);
      cur += s.slice(i + 1, end);
      have = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      let closed = false;
      while (i < s.length) {
        const d = s[i] as string;
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (d === "\\" && i + 1 < s.length && (s[i + 1] === '"' || s[i + 1] === "\\")) {
          cur += s[i + 1];
          i += 2;
          continue;
        }
        cur += d;
        i++;
      }
      if (!closed) throw new ConfigError(`No closing quotation in ${s}`);
      have = true;
    } else if (c === "\\") {
      if (i + 1 >= s.length) throw new ConfigError(`No escaped character in ${s}`);
      cur += s[i + 1];
      have = true;
      i += 2;
    } else {
      cur += c;
      have = true;
      i++;
    }
  }
  if (have) out.push(cur);
  return out;
}

function splitItems(value: string, delimiter: string, shellQuoting: boolean): string[] {
  if (shellQuoting) return shlexSplit(value, `${delimiter}\n`).filter((x) => x !== "");
  const parts = value.split(delimiter === "\n" ? "\n" : new RegExp(`[${delimiter}\\n]`));
  return parts.filter((x) => x !== "");
}

/** Sort key for package lists: plain names, then paths, then "(conditionals)". */
export function packageSort(list: string[]): string[] {
  const rank = (p: string) => (p.startsWith("(") ? 2 : p.startsWith("/") ? 1 : 0);
  return [...list].sort((a, b) => {
    const d = rank(a) - rank(b);
    if (d !== 0) return d;
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

export interface ListOptions<T> {
  delimiter?: "," | " ";
  item?: ItemParser<T>;
  unescape?: boolean;
  reset?: boolean;
  sortPackages?: boolean;
}

const stringItem = itemParser(str, (v) => v);

export function makeListParser<T = string>(opts: ListOptions<T> = {}): Parser<T[]> {
  const delimiter = opts.delimiter ?? ",";
  const item = opts.item ?? (stringItem as unknown as ItemParser<T>);
  return parser(listOf(item.shape), (value, old, env) => {
    if (value === null) return [];
    if (value === "") return opts.reset === false ? ((old as T[] | null) ?? []) : null;
    const parsed = splitItems(value, delimiter, opts.unescape ?? false).map((x) => item(x, env));
    const out = [...((old as T[] | null | undefined) ?? []), ...parsed];
    return opts.sortPackages ? (packageSort(out as string[]) as T[]) : out;
  });
}

export function parseEnvironmentItem(value: string, env: ParseEnv): [string, string] {
  const eq = value.indexOf("=");
  if (eq >= 0) return [value.slice(0, eq).trim(), value.slice(eq + 1)];
  const key = value.trim();
  return [key, env.env[key] ?? ""];
}

export function parseKeyValueItem(value: string): [string, string] {
  const eq = value.indexOf("=");
  if (eq >= 0) return [value.slice(0, eq).trim(), value.slice(eq + 1)];
  return [value.trim(), ""];
}

/** Reads a content file, running it when executable (stdout is the value). */
export function runOrRead(
  path: string,
  cwd: string,
  env: Record<string, string | undefined>,
  opts: { shebangCheck?: boolean } = {},
): string {
  const st = statSync(path);
  if (st.mode & 0o111) {
    const r = spawnSync(path, [], {
      cwd,
      env: env as NodeJS.ProcessEnv,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    if (r.error) throw new ConfigError(`Failed to run ${path}: ${r.error.message}`);
    if (r.status !== 0) {
      const e = new ConfigError(`"${path}" returned non-zero exit code ${r.status}.`);
      e.exitCode = r.status ?? 1;
      throw e;
    }
    return r.stdout;
  }
  const text = readFileSync(path, "utf8");
  if ((opts.shebangCheck ?? true) && text.startsWith("#!/"))
    throw new ConfigError(
      `${basename(path)} starts with a shebang (${text.split("\n")[0]})\n(This file should be executable)`,
    );
  return text;
}

export function makeDictParser(opts: {
  delimiter?: "," | " " | "\n";
  unescape?: boolean;
  item: (v: string, env: ParseEnv) => [string, string];
  /** A whole value without "=" names a file (its content, or output if executable, is the value
   * of the key named after it) or a directory of such files; it must exist. */
  allowPaths?: boolean;
}): Parser<Record<string, string>> {
  const delimiter = opts.delimiter ?? " ";
  return parser(dictOf(str), (value, old, env) => {
    if (value === null) return {};
    const out: Record<string, string> = { ...((old as Record<string, string> | null | undefined) ?? {}) };
    if (opts.allowPaths && value !== "" && !value.includes("=")) {
      const p = isAbsolute(value) ? value : join(env.cwd, value);
      if (!existsSync(p)) throw new ConfigError(`${value} does not exist`);
      const files = statSync(p).isDirectory()
        ? readdirSync(p)
            .sort()
            .map((n) => join(p, n))
            .filter((f) => !statSync(f).isDirectory())
        : [p];
      for (const f of files) out[basename(f)] = runOrRead(f, env.cwd, env.env, { shebangCheck: false });
      return out;
    }
    if (value === "") return null;
    for (const raw of splitItems(value, delimiter, opts.unescape ?? false)) {
      const [k, v] = opts.item(raw, env);
      out[k] = v;
    }
    return out;
  });
}

export function makeSplitArtifactsParser(): Parser<SplitArtifact[]> {
  return parser(listOf(oneOf(SPLIT_ARTIFACTS)), (value, old) => {
    if (value === null) return [];
    if (value === "") return null;
    const b = tryParseBoolean(value);
    if (b !== null) return b ? [...SPLIT_ARTIFACTS_YES] : [...SPLIT_ARTIFACTS_DEFAULT];
    const out = [...((old as SplitArtifact[] | null | undefined) ?? [])];
    for (const item of splitItems(value, ",", false)) {
      if (!(SPLIT_ARTIFACTS as readonly string[]).includes(item))
        throw new ConfigError(`'${item}' is not a valid ArtifactOutput`);
      out.push(item as SplitArtifact);
    }
    return out;
  });
}

export const kernelModuleFilterItem = itemParser(str, (value) => {
  if (value === "default" || value === "host") return value;
  return `re:${value}`;
});

const DRIVE_SHAPE = record({
  Directory: nullable(str),
  FileId: str,
  Flags: listOf(oneOf(["persist"])),
  Id: str,
  Options: nullable(str),
  Size: num,
});

/** ID:SIZE[:DIR[:OPTIONS[:FILEID[:FLAGS]]]]; DIR must exist and resolves like any path. */
export const driveItem = itemParser(DRIVE_SHAPE, (value, env) => parseDriveValue(value, env));

export function parseDriveValue(value: string, env: ParseEnv) {
  const parts = value.split(":");
  if (parts.length < 2 || parts.length > 6)
    throw new ConfigError(`${value} is not a valid drive, expected ID:SIZE[:DIR[:OPTIONS[:FILEID[:FLAGS]]]]`);
  const [id, size, dir, options, fileId, flags] = parts as [
    string,
    string,
    string?,
    string?,
    string?,
    string?,
  ];
  if (!id) throw new ConfigError(`No ID specified for drive '${value}'`);
  if (!size) throw new ConfigError(`No size specified for drive '${value}'`);
  const flagList = flags ? flags.split(",").filter((x) => x) : [];
  for (const f of flagList) if (f !== "persist") throw new ConfigError(`'${f}' is not a valid DriveFlag`);
  return {
    Directory: dir ? parsePathValue(dir, env) : null,
    FileId: fileId ? fileId : id,
    Flags: flagList as "persist"[],
    Id: id,
    Options: options ? options : null,
    Size: parseBytesValue(size),
  };
}

/** Generic version comparison following systemd's strverscmp_improved(). */
export function compareVersions(a: string, b: string): number {
  const VALID = /[A-Za-z0-9~^.-]/;
  let i = 0;
  let j = 0;
  const cmp = (x: number, y: number) => (x < y ? -1 : x > y ? 1 : 0);
  const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
  const isAlpha = (c: string | undefined) => c !== undefined && /[A-Za-z]/.test(c);
  for (;;) {
    while (i < a.length && !VALID.test(a[i] as string)) i++;
    while (j < b.length && !VALID.test(b[j] as string)) j++;
    const ca = a[i];
    const cb = b[j];
    if (ca === "~" || cb === "~") {
      const r = cmp(ca !== "~" ? 1 : 0, cb !== "~" ? 1 : 0);
      if (r !== 0) return r;
      i++;
      j++;
      continue;
    }
    if (ca === undefined || cb === undefined) {
      if (ca === undefined && cb === undefined) return 0;
      return ca === undefined ? -1 : 1;
    }
    let handled = false;
    for (const sep of ["-", "^", "."]) {
      if (ca === sep || cb === sep) {
        const r = cmp(ca !== sep ? 1 : 0, cb !== sep ? 1 : 0);
        if (r !== 0) return r;
        i++;
        j++;
        handled = true;
        break;
      }
    }
    if (handled) continue;
    if (isDigit(ca) || isDigit(cb)) {
      while (a[i] === "0") i++;
      while (b[j] === "0") j++;
      let ii = i;
      let jj = j;
      while (isDigit(a[ii])) ii++;
      while (isDigit(b[jj])) jj++;
      let r = cmp(ii !== i ? 1 : 0, jj !== j ? 1 : 0);
      if (r !== 0) return r;
      r = cmp(ii - i, jj - j);
      if (r !== 0) return r;
      const sa = a.slice(i, ii);
      const sb = b.slice(j, jj);
      if (sa !== sb) return sa < sb ? -1 : 1;
      i = ii;
      j = jj;
    } else {
      let ii = i;
      let jj = j;
      while (isAlpha(a[ii])) ii++;
      while (isAlpha(b[jj])) jj++;
      const n = Math.min(ii - i, jj - j);
      const sa = a.slice(i, i + n);
      const sb = b.slice(j, j + n);
      if (sa !== sb) return sa < sb ? -1 : 1;
      const r = cmp(ii - i, jj - j);
      if (r !== 0) return r;
      i = ii;
      j = jj;
    }
  }
}

/** Evaluates "[op]version" against `actual` (op ∈ ==, !=, <=, >=, <, >; default ==). */
export function versionMatches(actual: string, spec: string): boolean {
  const m = /^(==|!=|<=|>=|<|>)?(.*)$/.exec(spec.trim()) as RegExpExecArray;
  const op = m[1] ?? "==";
  const r = compareVersions(actual, (m[2] ?? "").trim());
  switch (op) {
    case "==":
      return r === 0;
    case "!=":
      return r !== 0;
    case "<=":
      return r <= 0;
    case ">=":
      return r >= 0;
    case "<":
      return r < 0;
    default:
      return r > 0;
  }
}
