// A canonical listing of a tree, with names as bytes: what an image output is made of, one line per
// entry, so that two outputs compare as two sorted lists of lines and a difference names the entry.
//
// Each entry: its path (bytes, escaped: printable ASCII as is, every other byte and the backslash as
// \xNN), its type, permission bits, owner, and then what the type has: a file's size and SHA-256, a
// symlink's target (bytes, escaped), a device's numbers; every entry's xattrs (name=hex, sorted); the
// hard-link group of a file with other names in the tree (the first of its names); and, when asked, the
// modification time (with SourceDateEpoch= every time is clamped, so it is part of the output).
//
// Left out because they are not properties of the output but of where and when it was written:
// inode numbers, atime, ctime, a directory's size (ext4 grows directories and never shrinks them, so it
// records the history of the entries, not the entries), and link counts that reach outside the tree.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { type BigIntStats, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";

/** A tree listing: escaped relative path ("." for the root) → the entry's description. */
export type Listing = Map<string, string>;

export interface ListingOptions {
  /** Include modification times (meaningful when SourceDateEpoch= clamps them): all, or those of the
   * entries a predicate accepts (given the escaped path and the type letter). */
  mtimes?: boolean | ((path: string, type: string) => boolean);
  /** Xattrs left out (names, escaped). */
  ignoreXattrs?: string[];
}

/** Bytes as text: printable ASCII stays, everything else (and the backslash) is \xNN. Injective. */
export function escapeBytes(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) {
    if (b >= 0x21 && b <= 0x7e && b !== 0x5c) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** The inverse of escapeBytes (also accepts plain text without escapes). */
export function unescapeBytes(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\\" && text[i + 1] === "x") {
      bytes.push(Number.parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
    } else bytes.push(...Buffer.from(text[i]!, "utf8"));
  }
  return Buffer.from(bytes);
}

function join(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, Buffer.from("/"), name]);
}

function typeOf(st: BigIntStats): string {
  if (st.isFile()) return "f";
  if (st.isDirectory()) return "d";
  if (st.isSymbolicLink()) return "l";
  if (st.isCharacterDevice()) return "c";
  if (st.isBlockDevice()) return "b";
  if (st.isFIFO()) return "p";
  if (st.isSocket()) return "s";
  return "?";
}

/** Every xattr below `root` (symlinks not followed), by path relative to root as raw bytes (latin1). */
async function xattrsBelow(root: string, ignore: string[] = []): Promise<Map<string, string>> {
  const output = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn(
      "getfattr",
      ["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", root],
      {
        env: { ...process.env, LC_ALL: "C" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const chunks: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    // getfattr exits 1 when an entry has no xattr support (e.g. some special files): what it printed holds.
    child.on("close", (code) =>
      code === 0 || code === 1 ? resolve(Buffer.concat(chunks)) : reject(new Error(`getfattr: ${stderr}`)),
    );
  });
  // getfattr writes names as bytes, with control characters and the backslash as \ooo.
  const unescapeOctal = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  const prefix = Buffer.from(root, "utf8").toString("latin1");
  const result = new Map<string, string>();
  for (const block of output.toString("latin1").split("\n\n")) {
    const lines = block.split("\n").filter((line) => line !== "");
    const header = lines.shift();
    if (!header?.startsWith("# file: ")) continue;
    const path = unescapeOctal(header.slice("# file: ".length));
    const rel =
      path === prefix ? "" : path.startsWith(`${prefix}/`) ? path.slice(prefix.length + 1) : undefined;
    if (rel === undefined) continue;
    const attrs = lines
      .map((line) => escapeBytes(Buffer.from(unescapeOctal(line), "latin1")))
      .filter((attr) => !ignore.includes(attr.slice(0, attr.indexOf("="))))
      .sort();
    if (attrs.length > 0) result.set(rel, attrs.join(","));
  }
  return result;
}

/** The listing of the tree at `root` (a directory; its own attributes are the "." entry). */
export async function listTree(root: string, options: ListingOptions = {}): Promise<Listing> {
  const xattrs = await xattrsBelow(root, options.ignoreXattrs);
  const rows: { rel: Buffer; st: BigIntStats; abs: Buffer }[] = [];
  const walk = (abs: Buffer, rel: Buffer) => {
    const st = lstatSync(abs, { bigint: true });
    rows.push({ rel, st, abs });
    if (!st.isDirectory()) return;
    const names = readdirSync(abs, { encoding: "buffer" }).sort(Buffer.compare);
    for (const name of names) walk(join(abs, name), rel.length ? join(rel, name) : name);
  };
  walk(Buffer.from(root), Buffer.alloc(0));
  // Hard-link groups inside the tree: the first name (in sorted order) of each inode with several names.
  const firstName = new Map<bigint, string>();
  for (const { rel, st } of rows) {
    if (st.isDirectory() || st.nlink < 2n) continue;
    if (!firstName.has(st.ino)) firstName.set(st.ino, escapeBytes(rel));
  }
  const names = new Map<bigint, number>();
  for (const { st } of rows)
    if (!st.isDirectory() && st.nlink > 1n) names.set(st.ino, (names.get(st.ino) ?? 0) + 1);
  const listing: Listing = new Map();
  for (const { rel, st, abs } of rows) {
    const type = typeOf(st);
    const fields = [type, (st.mode & 0o7777n).toString(8), `${st.uid}:${st.gid}`];
    if (type === "f") {
      fields.push(
        `size=${st.size}`,
        `sha256=${createHash("sha256").update(readFileSync(abs)).digest("hex")}`,
      );
    } else if (type === "l") {
      fields.push(`target=${escapeBytes(readlinkSync(abs, { encoding: "buffer" }))}`);
    } else if (type === "c" || type === "b") {
      fields.push(`rdev=${st.rdev}`);
    }
    const attrs = xattrs.get(rel.toString("latin1"));
    if (attrs) fields.push(`xattrs=${attrs}`);
    if (type !== "d" && (names.get(st.ino) ?? 0) > 1) fields.push(`hardlink=${firstName.get(st.ino)}`);
    const path = rel.length ? escapeBytes(rel) : ".";
    const mtimes = typeof options.mtimes === "function" ? options.mtimes(path, type) : options.mtimes;
    if (mtimes) fields.push(`mtime=${st.mtimeNs}`);
    listing.set(path, fields.join(" "));
  }
  return listing;
}

/** The listing as text, one "path<TAB>entry" line each, sorted by path. */
export function formatListing(listing: Listing): string {
  return [...listing.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([path, entry]) => `${path}\t${entry}`)
    .join("\n");
}

export interface ListingDifference {
  path: string;
  /** The entry in the first listing (undefined: absent there). */
  a?: string;
  b?: string;
}

/** Entries that differ between two listings, sorted by path. */
export function diffListings(a: Listing, b: Listing): ListingDifference[] {
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  const out: ListingDifference[] = [];
  for (const path of paths) {
    const x = a.get(path);
    const y = b.get(path);
    if (x !== y) out.push({ path, a: x, b: y });
  }
  return out;
}

/** A difference list as text, at most `limit` entries. */
export function formatDifferences(
  differences: ListingDifference[],
  labels: [string, string] = ["incremental", "clean"],
  limit = 40,
): string {
  const lines: string[] = [];
  for (const d of differences.slice(0, limit)) {
    lines.push(`  ${d.path}`);
    lines.push(`    ${labels[0].padEnd(11)} ${d.a ?? "(absent)"}`);
    lines.push(`    ${labels[1].padEnd(11)} ${d.b ?? "(absent)"}`);
  }
  if (differences.length > limit) lines.push(`  … and ${differences.length - limit} more`);
  return lines.join("\n");
}
