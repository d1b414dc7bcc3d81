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

function encodeInto(value: unknown, out: string[], path: string, seen: Set<object>): void {
  switch (typeof value) {
    case "string":
      out.push("s", JSON.stringify(value));
      return;
    case "number":
      if (!Number.isFinite(value)) throw new EncodingError(`non-finite number ${value}`, path);
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
      if (seen.has(value)) throw new EncodingError("cyclic value", path);
      seen.add(value);
      if (Array.isArray(value)) {
        out.push("[", String(value.length), ":");
        for (let i = 0; i < value.length; i++) encodeInto(value[i], out, `${path}[${i}]`, seen);
        out.push("]");
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          throw new EncodingError(`not plain data (${proto?.constructor?.name ?? "unknown"})`, path);
        }
        const rec = value as Record<string, unknown>;
        const keys = Object.keys(rec)
          .filter((k) => rec[k] !== undefined)
          .sort();
        out.push("{", String(keys.length), ":");
        for (const k of keys) {
          out.push(JSON.stringify(k), "=");
          encodeInto(rec[k], out, path ? `${path}.${k}` : k, seen);
        }
        out.push("}");
      }
      seen.delete(value);
      return;
    }
    default:
      throw new EncodingError(`unsupported ${typeof value}`, path);
  }
}

/** Canonical string encoding of plain JSON data. */
export function canonical(value: unknown): string {
  const out: string[] = [];
  encodeInto(value, out, "", new Set());
  return out.join("");
}

export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** SHA-256 of the canonical encoding. */
export function digestOf(value: unknown): string {
  return sha256(canonical(value));
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
