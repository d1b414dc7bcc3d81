// Canonical, order-independent encoding of JSON-like values, and SHA-256 over it.
//
// Every value carries a type tag, object keys are sorted, strings are JSON-escaped (so lone surrogates stay
// distinct), numbers are written in their shortest round-trip form. Two values encode to the same string iff
// they are equal as JSON data, regardless of key insertion order. `undefined` object members are dropped (as
// JSON.stringify does); anything that is not plain JSON data is rejected with the offending path.

import { createHash } from "node:crypto";
import type { Json } from "./api.js";

export class EncodingError extends TypeError {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(`${message} at ${path || "<root>"}`);
    this.name = "EncodingError";
  }
}

class Bad extends Error {
  constructor(
    readonly what: string,
    readonly at: unknown[],
  ) {
    super(what);
  }
}

// The hot path carries no path strings: on error, the path is rebuilt from the stack of keys.
function encodeInto(value: unknown, out: string[], stack: unknown[]): void {
  switch (typeof value) {
    case "string":
      out.push("s", JSON.stringify(value));
      return;
    case "number":
      if (!Number.isFinite(value)) throw new Bad(`non-finite number ${value}`, stack);
      out.push("d", Object.is(value, -0) ? "0" : String(value), ";");
      return;
    case "boolean":
      out.push(value ? "T" : "F");
      return;
    case "object": {
      if (value === null) {
        out.push("N");
        return;
      }
      if (stack.includes(value)) throw new Bad("cyclic value", stack);
      stack.push(value);
      if (Array.isArray(value)) {
        out.push("[", String(value.length), ":");
        for (let i = 0; i < value.length; i++) {
          stack.push(i);
          encodeInto(value[i], out, stack);
          stack.pop();
        }
        out.push("]");
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          throw new Bad(`not plain data (${proto?.constructor?.name ?? "unknown"})`, stack);
        }
        const rec = value as Record<string, unknown>;
        const keys = Object.keys(rec);
        let n = 0;
        for (const k of keys) if (rec[k] !== undefined) n++;
        if (keys.length > 1) keys.sort();
        out.push("{", String(n), ":");
        for (const k of keys) {
          const v = rec[k];
          if (v === undefined) continue;
          out.push(JSON.stringify(k), "=");
          stack.push(k);
          encodeInto(v, out, stack);
          stack.pop();
        }
        out.push("}");
      }
      stack.pop();
      return;
    }
    default:
      throw new Bad(`unsupported ${typeof value}`, stack);
  }
}

function pathOf(stack: unknown[]): string {
  let p = "";
  for (const s of stack) {
    if (typeof s === "number") p += `[${s}]`;
    else if (typeof s === "string") p += p ? `.${s}` : s;
  }
  return p;
}

const MAX_DEPTH = 512;

/** The hot path: string building without bookkeeping. Anything odd throws and the careful encoder below
 * (which produces the same encoding) finds and names the problem. */
function fast(v: unknown, depth: number): string {
  switch (typeof v) {
    case "string":
      return `s${JSON.stringify(v)}`;
    case "number":
      if (!Number.isFinite(v)) throw new Bad("", []);
      return `d${Object.is(v, -0) ? "0" : String(v)};`;
    case "boolean":
      return v ? "T" : "F";
    case "object": {
      if (v === null) return "N";
      if (depth > MAX_DEPTH) throw new Bad("", []);
      if (Array.isArray(v)) {
        let s = `[${v.length}:`;
        for (let i = 0; i < v.length; i++) s += fast(v[i], depth + 1);
        return `${s}]`;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw new Bad("", []);
      const rec = v as Record<string, unknown>;
      const keys = Object.keys(rec);
      if (keys.length > 1) keys.sort();
      let n = 0;
      let body = "";
      for (const k of keys) {
        const x = rec[k];
        if (x === undefined) continue;
        n++;
        body += `${JSON.stringify(k)}=${fast(x, depth + 1)}`;
      }
      return `{${n}:${body}}`;
    }
    default:
      throw new Bad("", []);
  }
}

/** Canonical string encoding of plain JSON data. */
export function canonical(value: unknown): string {
  try {
    return fast(value, 0);
  } catch (e) {
    if (!(e instanceof Bad)) throw e;
  }
  const out: string[] = [];
  try {
    encodeInto(value, out, []);
  } catch (e) {
    if (e instanceof Bad) throw new EncodingError(e.what, pathOf(e.at));
    throw e;
  }
  throw new EncodingError(`nested deeper than ${MAX_DEPTH} levels`, "");
}

export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** SHA-256 of the canonical encoding. */
export function digestOf(value: unknown): string {
  return sha256(canonical(value));
}

/**
 * The digest of a committed output: its tree's fingerprint, its metadata, and the digests of the artifacts
 * it retains. Metadata names retained artifacts by key (a layer lists the layers below it), and a key is
 * local to one cache (secrets are keyed with the cache's own key): those names count by their artifacts'
 * digests, so the same output has the same digest in every cache.
 */
export function outputDigest(tree: string, meta: unknown, retained: ReadonlyMap<string, string>): string {
  const byDigest = (v: unknown): unknown => {
    if (typeof v === "string") {
      const d = retained.get(v);
      return d === undefined ? v : { retained: d };
    }
    if (Array.isArray(v)) return v.map(byDigest);
    if (v && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, byDigest(x)]));
    return v;
  };
  // A set: the order of `retain` (the engine keeps it sorted by key) is no part of the output.
  return digestOf({ tree, meta: byDigest(meta), retain: [...retained.values()].sort() });
}

/** Deep equality of JSON data, via the canonical encoding. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

/** Copy a value into plain JSON data (drops undefined members), validating it. */
export function toJson(value: unknown): Json {
  canonical(value);
  return JSON.parse(JSON.stringify(value)) as Json;
}
