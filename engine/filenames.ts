// File names are bytes on Linux (anything but "/" and NUL); Node decodes them as UTF-8 and replaces what
// is not valid with U+FFFD, so two different names can become the same string and the string no longer
// names the file. Names are carried here as strings in "surrogateescape" form (as Python's PEP 383 does):
// valid UTF-8 decodes as usual, and every byte that is not part of a valid sequence becomes the lone
// surrogate U+DC80 + byte. The mapping is injective, and the identity on valid UTF-8, so nothing changes
// for ordinary names (no key of an ordinary tree changes, and the fast paths stay as they were); a path
// that holds an escape is turned back into its bytes (a Buffer) for the file system calls, and shown
// with the bytes as \xNN.
import { isUtf8 } from "node:buffer";
import { readdirSync, readlinkSync } from "node:fs";
import { readdir } from "node:fs/promises";

/** A lone low surrogate of the escape range (not the second half of a pair). */
const ESCAPE = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;
const ESCAPES = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/g;

/** Does `name` (or path) carry escaped bytes? */
export function hasEscapes(name: string): boolean {
  return ESCAPE.test(name);
}

/** The name of `bytes`: UTF-8 where valid, each other byte escaped. */
export function decodeName(bytes: Buffer): string {
  if (isUtf8(bytes)) return bytes.toString("utf8");
  const parts: string[] = [];
  let i = 0;
  while (i < bytes.length) {
    // A run of ASCII at once.
    let j = i;
    while (j < bytes.length && bytes[j]! < 0x80) j++;
    if (j > i) parts.push(bytes.toString("latin1", i, j));
    if (j >= bytes.length) break;
    const b = bytes[j]!;
    const n = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    // A sequence is taken whole when it is valid UTF-8 on its own (isUtf8 rejects overlong forms,
    // surrogates and code points above U+10FFFF).
    if (n > 0 && j + n <= bytes.length && isUtf8(bytes.subarray(j, j + n))) {
      parts.push(bytes.toString("utf8", j, j + n));
      i = j + n;
    } else {
      parts.push(String.fromCharCode(0xdc00 + b));
      i = j + 1;
    }
  }
  return parts.join("");
}

/** The bytes of a name or path (the inverse of decodeName). */
export function encodeName(name: string): Buffer {
  if (!hasEscapes(name)) return Buffer.from(name, "utf8");
  const parts: Buffer[] = [];
  let from = 0;
  for (const m of name.matchAll(ESCAPES)) {
    parts.push(Buffer.from(name.slice(from, m.index), "utf8"), Buffer.of(m[0].charCodeAt(0) - 0xdc00));
    from = m.index + 1;
  }
  parts.push(Buffer.from(name.slice(from), "utf8"));
  return Buffer.concat(parts);
}

/** What to give the file system for a path: the string itself, or its bytes when it carries escapes. */
export function fsPath(path: string): string | Buffer {
  return hasEscapes(path) ? encodeName(path) : path;
}

/** A name or path for people: escaped bytes as \xNN (the rest as it is). */
export function displayName(name: string): string {
  return hasEscapes(name)
    ? name.replace(ESCAPES, (c) => `\\x${(c.charCodeAt(0) - 0xdc00).toString(16).padStart(2, "0")}`)
    : name;
}

/** Names of the entries of `dir`, byte-exact (see above), and whether any needed escapes. Only a
 * directory that has a name Node could not decode is read a second time, as bytes. */
export function readdirChecked(dir: string | Buffer): { names: string[]; escaped: boolean } {
  const names = readdirSync(dir);
  for (const name of names) {
    if (name.includes("\uFFFD")) {
      const exact = readdirSync(dir, { encoding: "buffer" }).map(decodeName);
      return { names: exact, escaped: exact.some(hasEscapes) };
    }
  }
  return { names, escaped: false };
}

/** Names of the entries of `dir`, byte-exact. */
export function readdirNames(dir: string | Buffer): string[] {
  return readdirChecked(dir).names;
}

/** The target of a symlink, byte-exact. */
export function readlinkName(path: string | Buffer): string {
  const target = readlinkSync(path);
  return target.includes("\uFFFD") ? decodeName(readlinkSync(path, { encoding: "buffer" })) : target;
}

/** `find`'s output (records of names) as text: UTF-8 where it is valid, as decodeName otherwise. */
export function decodeNames(bytes: Buffer): string {
  return isUtf8(bytes) ? bytes.toString("utf8") : decodeName(bytes);
}

/** readdirNames, asynchronous. */
export async function readdirNamesAsync(dir: string | Buffer): Promise<string[]> {
  const names = await readdir(dir);
  for (const name of names) {
    if (name.includes("\uFFFD")) return (await readdir(dir, { encoding: "buffer" })).map(decodeName);
  }
  return names;
}

/** The entries of `dir` with their names byte-exact and whether each is a directory, asynchronous. */
export async function readdirTypedAsync(
  dir: string | Buffer,
): Promise<{ name: string; isDirectory: boolean }[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    if (e.name.includes("\uFFFD"))
      return (await readdir(dir, { withFileTypes: true, encoding: "buffer" })).map((d) => ({
        name: decodeName(d.name),
        isDirectory: d.isDirectory(),
      }));
  }
  return entries.map((d) => ({ name: d.name, isDirectory: d.isDirectory() }));
}
