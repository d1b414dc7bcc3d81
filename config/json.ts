// JSON exactly as upstream prints it: json.dumps(indent=4, sort_keys=True, ensure_ascii=True).
import type { ImageConfig, ResolvedConfig } from "./loader.js";

function encodeString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i] as string;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

function compareKeys(a: string, b: string): number {
  // Python sorts str by code point; UTF-16 order only differs for astral characters.
  if (!/[\ud800-\udfff]/.test(a + b)) return a < b ? -1 : a > b ? 1 : 0;
  const A = [...a];
  const B = [...b];
  for (let i = 0; i < Math.min(A.length, B.length); i++) {
    const x = (A[i] as string).codePointAt(0) as number;
    const y = (B[i] as string).codePointAt(0) as number;
    if (x !== y) return x - y;
  }
  return A.length - B.length;
}

export function dumpJson(value: unknown, indent: number | null = 4, level = 0): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    return Number.isFinite(value) ? String(value) : value > 0 ? "Infinity" : value < 0 ? "-Infinity" : "NaN";
  }
  if (typeof value === "string") return encodeString(value);
  const nl = indent === null ? "" : "\n";
  const pad = indent === null ? "" : " ".repeat(indent * (level + 1));
  const endPad = indent === null ? "" : " ".repeat(indent * level);
  const sep = indent === null ? ", " : ",";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[${nl}${value.map((v) => pad + dumpJson(v, indent, level + 1)).join(sep + nl)}${nl}${endPad}]`;
  }
  if (typeof value === "object") {
    const keys = Object.keys(value as object).sort(compareKeys);
    if (keys.length === 0) return "{}";
    const items = keys.map(
      (k) =>
        `${pad}${encodeString(k)}: ${dumpJson((value as Record<string, unknown>)[k], indent, level + 1)}`,
    );
    return `{${nl}${items.join(sep + nl)}${nl}${endPad}}`;
  }
  return encodeString(String(value));
}

/** The `$MKOSI_CONFIG` document for one image (same object as one element of "Images"). */
export function imageConfigJson(image: ImageConfig, indent: number | null = 4): string {
  return dumpJson(image, indent);
}

/** The `mkosi --json summary` document. */
export function summaryJson(config: ResolvedConfig): string {
  return dumpJson({ Images: config.images, Tools: config.tools });
}
