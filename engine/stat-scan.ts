// The per-path fast check's stat scan: a hash of every entry's stat tuple under a declared directory,
// from one `find` over many roots or a walk in JS, so an unchanged tree is known without reading it.
// Fingerprinter.scan chooses between them.

import { spawn } from "node:child_process";
import { lstatSync, type Stats } from "node:fs";
import type { XXHashAPI } from "xxhash-wasm";
import { encodeName, fsPath, hasEscapes, readdirChecked } from "./filenames.js";

/** Declared trees with at most this many entries are scanned without starting `find`. */
export const SMALL_TREE = 200;

export function statTuple(st: Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.mode}:${st.uid}:${st.gid}:${st.rdev}`;
}

/** A declared path, normalized (Fingerprinter.normalize): what its memo and per-path record are keyed by. */
export interface Root {
  /** The path as declared, when given as a plain string. */
  raw?: string;
  path: string;
  exclude: string[];
  memoKey: string;
  /** xxh64 key of the per-path record. */
  rootKey: string;
}

/** Result of one stat walk over declared directories: a hash of every entry's stat tuple per root. */
export interface StatScan {
  /** Wall-clock time when the scan started: entries changed after (ctime) this minus the racy window are not
   * trusted. */
  t0: number;
  hashes: Map<string, string>;
}

const FIND_FORMAT = "%i:%s:%T@:%C@:%m:%U:%G:%y\\0%H\\0%P\\0";

/** `text` (UTF-8, escapes allowed) as find prints it in our latin1 decoding: one character per byte. */
export function latin1(text: string): string {
  return /[^\x00-\x7f]/.test(text) ? encodeName(text).toString("latin1") : text;
}

export function isExcluded(rel: string, exclude: string[]): boolean {
  for (const e of exclude)
    if (rel === e || (rel.startsWith(e) && rel.charCodeAt(e.length) === 47)) return true;
  return false;
}

let findUnavailable = false;

/** `find` over the given starting points, printing stat tuples; undefined when it fails. The output is
 * decoded as latin1: one character per byte, so names that are not UTF-8 hash by their bytes. */
export function runFind(paths: string[]): Promise<string | undefined> {
  return new Promise((res) => {
    const child = spawn("find", [...paths, "-printf", FIND_FORMAT], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C" },
    });
    const chunks: Buffer[] = [];
    let failed = false;
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.stderr.on("data", () => {
      failed = true;
    });
    child.on("error", (e) => {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") findUnavailable = true;
      failed = true;
      res(undefined);
    });
    child.on("close", (code) => {
      if (failed || code !== 0) res(undefined);
      else res(Buffer.concat(chunks).toString("latin1"));
    });
  });
}

/** Whether `find` could not be started at all (not installed): callers stop trying it. */
export function findIsUnavailable(): boolean {
  return findUnavailable;
}

/** find prints the starting points in order, each one's entries contiguous, its own entry first with an
 * empty relative path ("<tuple>\0<root>\0\0", a sequence no other entry contains). Cut the output there and
 * hash each section whole; only roots with exclusions need their entries looked at one by one. */
export function cutSections(
  xx: XXHashAPI,
  text: string,
  paths: string[],
  byPath: Map<string, Root[]>,
  hashes: Map<string, string>,
): boolean {
  const starts: number[] = [];
  let from = 0;
  for (const p of paths) {
    const bytes = latin1(p);
    const marker = text.indexOf(`\0${bytes}\0\0`, from);
    if (marker < 0) return false; // unexpected output: do not guess
    starts.push(text.lastIndexOf("\0", marker - 1) + 1);
    from = marker + bytes.length + 3;
  }
  starts.push(text.length);
  paths.forEach((p, i) => {
    const section = text.slice(starts[i], starts[i + 1]);
    for (const r of byPath.get(p)!) {
      if (r.exclude.length === 0) {
        hashes.set(r.memoKey, `find:${xx.h64ToString(section)}`);
        continue;
      }
      const fields = section.split("\0");
      const parts: string[] = [];
      const exclude = r.exclude.map(latin1);
      for (let f = 0; f + 2 < fields.length; f += 3) {
        if (!isExcluded(fields[f + 2]!, exclude)) parts.push(fields[f]!, "\0", fields[f + 2]!, "\0");
      }
      hashes.set(r.memoKey, `findx:${xx.h64ToString(parts.join(""))}`);
    }
  });
  return true;
}

/** xxh64 over the stat tuples of a tree's entries in sorted order; undefined when it has more than `limit`
 * entries (the walk stops there). */
export function jsScan(xx: XXHashAPI, r: Root, limit = Number.POSITIVE_INFINITY): string | undefined {
  const parts: string[] = [];
  let entries = 0;
  const walk = (abs: string, raw: boolean, rel: string): boolean => {
    let listed: { names: string[]; escaped: boolean };
    try {
      listed = readdirChecked(raw ? encodeName(abs) : abs);
    } catch {
      return true;
    }
    const names = listed.names.sort();
    for (const name of names) {
      const crel = rel === "" ? name : `${rel}/${name}`;
      if (r.exclude.length > 0 && isExcluded(crel, r.exclude)) continue;
      if (++entries > limit) return false;
      const child = `${abs}/${name}`;
      const childRaw = raw || (listed.escaped && hasEscapes(name));
      const st = lstatSync(childRaw ? encodeName(child) : child, { throwIfNoEntry: false });
      if (!st) continue;
      parts.push(crel, "\0", statTuple(st), "\n");
      if (st.isDirectory() && !walk(child, childRaw, crel)) return false;
    }
    return true;
  };
  const rootRaw = hasEscapes(r.path);
  const st = lstatSync(fsPath(r.path), { throwIfNoEntry: false });
  if (st) parts.push("\0", statTuple(st), "\n");
  if (!walk(r.path, rootRaw, "")) return undefined;
  return xx.h64ToString(parts.join(""));
}
