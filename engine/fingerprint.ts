// Fingerprints of files and trees, with a stat cache so unchanged files are never re-read.
//
// A fingerprint entry is a typed string covering everything that makes a file what it is in an image:
//
//   f <mode> <uid>:<gid> <sha256 of content>[ x<sha256 of xattrs>]
//   l <uid>:<gid> <JSON link target>[ x...]
//   c|b <mode> <uid>:<gid> <major>:<minor>[ x...]      (overlayfs whiteouts are c 0:0)
//   p|s <mode> <uid>:<gid>[ x...]
//   d <mode> <uid>:<gid> <sha256 of the directory manifest>[ x...]   (opaque dirs carry trusted.overlay.opaque)
//
// A directory manifest is the sorted list of [name, entry] of its children; manifests are stored in LMDB
// under their digest (a Merkle tree: unchanged subtrees are shared between versions and skipped by diffs).
// The fingerprint of a declared path is "none" (null), "absent", the entry of a file, or "D <digest>" for a
// directory (the root directory's own mode and owner are left out: only what is inside counts).
//
// Names are byte-exact (engine/filenames.ts): a name that is not valid UTF-8 is carried with its invalid
// bytes escaped, and the file system is given its bytes, so two such names never look alike.
//
// Fast path: a walk lstat()s every entry and hashes all stat tuples with xxh64; if that equals the value
// stored for the declared path, its fingerprint is reused without a single further lookup. Otherwise each
// entry's stat tuple is compared with the stat cache and only changed entries are re-read (content, link
// target, xattrs via one batched getfattr). Entries whose ctime is too recent to be trusted ("racy", as git
// calls it) are never cached.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, lstatSync, readFileSync, realpathSync, type Stats } from "node:fs";
import { resolve } from "node:path";
import type { XXHashAPI } from "xxhash-wasm";
import type { PathInput } from "./api.js";
import { sha256 } from "./encoding.js";
import { displayName, encodeName, fsPath, hasEscapes, readdirChecked, readlinkName } from "./filenames.js";
import type { DirManifest, PathSig, RootRecord, Store } from "./store.js";

/** Entries whose ctime is within this window of the walk are not cached (timestamps are coarse). */
const RACY_MS = 2000;
/** Declared trees with at most this many entries are scanned without starting `find`. */
const SMALL_TREE = 200;
/** Files above this size are hashed asynchronously, in chunks. */
const LARGE_FILE = 4 * 1024 * 1024;
const GETFATTR_BATCH = 400;

interface Node {
  name: string;
  /** The path (names byte-exact, see engine/filenames.ts). */
  abs: string;
  /** Its bytes, for the file system, when `abs` carries escaped bytes. */
  raw?: Buffer;
  st: Stats;
  tuple: string;
  children?: Node[];
  fp?: string;
  xattr?: string;
}

export interface TreeFingerprint {
  /** "absent", an entry string, or "D <digest>". */
  fp: string;
  /** Disk usage of the tree (st_blocks), for artifacts. */
  bytes: number;
}

function statTuple(st: Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.mode}:${st.uid}:${st.gid}:${st.rdev}`;
}

function major(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}
function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & ~0xff & 0xfffff);
}

function perm(st: Stats): string {
  return (st.mode & 0o7777).toString(8);
}

/** The entry string of a non-directory, without xattrs. `content` is the content digest for files. */
function entryOf(st: Stats, content: string | undefined, link: string | undefined): string {
  const own = `${st.uid}:${st.gid}`;
  if (st.isFile()) return `f ${perm(st)} ${own} ${content}`;
  if (st.isSymbolicLink()) return `l ${own} ${JSON.stringify(link)}`;
  if (st.isCharacterDevice()) return `c ${perm(st)} ${own} ${major(st.rdev)}:${minor(st.rdev)}`;
  if (st.isBlockDevice()) return `b ${perm(st)} ${own} ${major(st.rdev)}:${minor(st.rdev)}`;
  if (st.isFIFO()) return `p ${perm(st)} ${own}`;
  if (st.isSocket()) return `s ${perm(st)} ${own}`;
  return `? ${st.mode.toString(8)} ${own}`;
}

export function manifestDigest(entries: DirManifest): string {
  const h = createHash("sha256");
  for (const [name, fp] of entries) h.update(`${JSON.stringify(name)} ${fp}\n`);
  return h.digest("hex");
}

function unescapeGetfattr(s: string): string {
  // getfattr writes names as bytes, escaping some as \ooo; work in latin1 (one char per byte).
  const bytes = s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  return Buffer.from(bytes, "latin1").toString("utf8");
}

let getfattrMissing = false;

/** All xattrs of the given paths (not following symlinks), as "name=0xhex" lines sorted, keyed by path.
 * Paths without xattrs are absent from the result. */
function getfattr(batch: string[]): Promise<Buffer | undefined> {
  return new Promise((res, rej) => {
    const child = spawn(
      "getfattr",
      ["--absolute-names", "-h", "-d", "-m", "-", "-e", "hex", "--", ...batch],
      {
        env: { ...process.env, LC_ALL: "C" },
        stdio: ["ignore", "pipe", "ignore"],
      },
    );
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.on("error", (e) => {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        getfattrMissing = true;
        res(undefined);
      } else rej(e);
    });
    // Exit status 1 only means some path vanished or has no xattr support: what was printed is valid.
    child.on("close", () => res(Buffer.concat(chunks)));
  });
}

/** The xattrs of one path that carries escaped bytes: argv cannot carry them from Node, so the shell
 * makes the name from octal escapes. */
function getfattrEscaped(path: string): Promise<Buffer | undefined> {
  const octal = [...encodeName(path)]
    .map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\0${b.toString(8)}`))
    .join("");
  return new Promise((res) => {
    const child = spawn(
      "sh",
      [
        "-c",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template
        'p=$(printf "%b_" "$1"); exec getfattr --absolute-names -h -d -m - -e hex -- "${p%_}"',
        "sh",
        octal,
      ],
      { env: { ...process.env, LC_ALL: "C" }, stdio: ["ignore", "pipe", "ignore"] },
    );
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.on("error", () => res(undefined));
    child.on("close", () => res(Buffer.concat(chunks)));
  });
}

export async function readXattrs(paths: string[]): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  if (getfattrMissing) return result;
  const escaped = paths.filter(hasEscapes);
  if (escaped.length > 0) {
    paths = paths.filter((p) => !hasEscapes(p));
    for (const path of escaped) {
      const out = (await getfattrEscaped(path))?.toString("latin1") ?? "";
      const lines = out.split("\n").filter((line) => line !== "" && !line.startsWith("# file: "));
      if (lines.length > 0) result.set(path, lines.map(unescapeGetfattr).sort().join("\n"));
    }
  }
  const batches: string[][] = [];
  for (let i = 0; i < paths.length; i += GETFATTR_BATCH) batches.push(paths.slice(i, i + GETFATTR_BATCH));
  const outputs: (Buffer | undefined)[] = [];
  let next = 0;
  const lane = async () => {
    while (next < batches.length) {
      const i = next++;
      outputs[i] = await getfattr(batches[i]!);
    }
  };
  await Promise.all([lane(), lane(), lane()]);
  for (const buf of outputs) {
    if (!buf) continue;
    const out = buf.toString("latin1");
    let current: string | undefined;
    let lines: string[] = [];
    const flush = () => {
      if (current !== undefined && lines.length > 0) result.set(current, lines.sort().join("\n"));
      lines = [];
    };
    for (const line of out.split("\n")) {
      if (line.startsWith("# file: ")) {
        flush();
        current = unescapeGetfattr(line.slice(8));
      } else if (line !== "" && current !== undefined) {
        const entry = unescapeGetfattr(line);
        if (!OVERLAY_BOOKKEEPING.test(entry)) lines.push(entry);
      }
    }
    flush();
  }
  return result;
}

/** Overlayfs bookkeeping that is not content: the upper directory's uuid, and the markers of copied-up
 * entries that point at the inodes they were copied from (they differ for equal content on another
 * machine, or on another copy of the same lower layer). Whiteouts, opaque directories and the other
 * overlay attributes keep their meaning and are fingerprinted. */
const OVERLAY_BOOKKEEPING = /^(?:trusted|user)\.overlay\.(?:uuid|impure|origin|nlink|upper)=/;

function xattrSuffix(x: string | undefined): string {
  return x ? ` x${sha256(x)}` : "";
}

async function hashLargeFile(path: string | Buffer): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest("hex");
}

export interface FingerprintOptions {
  /** Use and fill the stat cache (inputs); off for fresh outputs. */
  cache: boolean;
  /** Store directory manifests (needed to explain which files changed). */
  storeManifests: boolean;
  /** The stat scan this walk follows, and the declared root it serves: stores the per-path record. */
  scan?: StatScan;
  root?: Root;
}

/** `text` (UTF-8, escapes allowed) as find prints it in our latin1 decoding: one character per byte. */
function latin1(text: string): string {
  return /[^\x00-\x7f]/.test(text) ? encodeName(text).toString("latin1") : text;
}

function isExcluded(rel: string, exclude: string[]): boolean {
  for (const e of exclude)
    if (rel === e || (rel.startsWith(e) && rel.charCodeAt(e.length) === 47)) return true;
  return false;
}

let findUnavailable = false;

/** `find` over the given starting points, printing stat tuples; undefined when it fails. The output is
 * decoded as latin1: one character per byte, so names that are not UTF-8 hash by their bytes. */
function runFind(paths: string[]): Promise<string | undefined> {
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

export interface FingerprintStats {
  /** Declared directories answered by the per-path fast path. */
  fastHits: number;
  /** Directory walks that had to look at the stat cache entry by entry. */
  slowWalks: number;
  /** Files whose content was read and hashed. */
  hashedFiles: number;
  /** getfattr invocations. */
  xattrCalls: number;
}

const NONE: PathSig = { path: null, fp: "none" };

interface Root {
  /** The path as declared, when given as a plain string. */
  raw?: string;
  path: string;
  exclude: string[];
  memoKey: string;
  /** xxh64 key of the per-path record. */
  rootKey: string;
}

/** Result of one stat walk over declared directories: a hash of every entry's stat tuple per root. */
interface StatScan {
  /** Wall-clock time when the scan started: entries changed after (ctime) this minus the racy window are not
   * trusted. */
  t0: number;
  hashes: Map<string, string>;
}

const FIND_FORMAT = "%i:%s:%T@:%C@:%m:%U:%G:%y\\0%H\\0%P\\0";

export class Fingerprinter {
  private memo = new Map<string, Promise<PathSig>>();
  /** Resolved results of memo, by memo key (and by the raw string for plain string inputs). */
  private done = new Map<string, PathSig>();
  private pendingWrites: Promise<unknown>[] = [];
  private findMissing = false;
  readonly stats: FingerprintStats = { fastHits: 0, slowWalks: 0, hashedFiles: 0, xattrCalls: 0 };

  constructor(
    private store: Store,
    private xx: XXHashAPI,
    /** Entries whose ctime is within this window of the walk are not cached (timestamps are coarse). */
    private racyMs = RACY_MS,
  ) {}

  /** Per-path records read in this invocation (speculation and the scan both need them). */
  private rootRecs = new Map<string, RootRecord | undefined>();

  private rootRecord(r: Root): RootRecord | undefined {
    if (this.rootRecs.has(r.rootKey)) return this.rootRecs.get(r.rootKey);
    const rec = this.store.getRoot(r.rootKey);
    this.rootRecs.set(r.rootKey, rec);
    return rec;
  }

  /** Forget per-invocation memoized results (call at the start of each plan). */
  reset(): void {
    this.rootRecs.clear();
    this.memo.clear();
    this.done.clear();
  }

  private normalize(input: PathInput | string): Root {
    const spec = typeof input === "string" ? { path: input } : input;
    const path = /^\/(?!.*\/\.{0,2}(\/|$))/.test(spec.path) ? spec.path : resolve(spec.path);
    const exclude = [...new Set(spec.exclude ?? [])].map((e) => e.replace(/^\.?\/+|\/+$/g, "")).sort();
    const excludeStr = exclude.join("\0");
    const memoKey = `${path}\0${excludeStr}`;
    const r: Root = { path, exclude, memoKey, rootKey: this.xx.h64ToString(memoKey) };
    if (typeof input === "string") r.raw = input;
    return r;
  }

  /** The fingerprint of a declared path if it is known already (no waiting). */
  peek(input: PathInput | string | null): PathSig | undefined {
    if (input === null) return NONE;
    const key = typeof input === "string" ? `${input}\0` : undefined;
    return this.done.get(key ?? this.normalize(input).memoKey);
  }

  /** What the fingerprint of a declared path was when last computed, if recorded (a guess, not a fact). */
  speculate(input: PathInput | string | null): PathSig | undefined {
    const known = this.peek(input);
    if (known || input === null) return known;
    const r = this.normalize(input);
    const rec = this.rootRecord(r);
    if (rec && rec.path === r.path && rec.exclude === r.exclude.join("\0")) return this.sigOf(r, rec.fp);
    const st = this.store.getStat(this.xx.h64ToString(r.path));
    if (st && st.path === r.path && r.exclude.length === 0 && st.fp.startsWith("f "))
      return this.sigOf(r, st.fp);
    return undefined;
  }

  /** Fingerprint of a declared path, memoized per invocation. */
  path(input: PathInput | string | null): Promise<PathSig> {
    if (input === null) return Promise.resolve(NONE);
    const root = this.normalize(input);
    const p = this.memo.get(root.memoKey);
    if (p) return p;
    return this.fingerprintRoots([root]).get(root.memoKey)!;
  }

  /** Fingerprint many declared paths at once: one stat walk (a single `find`) covers all directories. */
  prefetch(inputs: (PathInput | string | null)[]): Promise<void> {
    const roots = new Map<string, Root>();
    for (const input of inputs) {
      if (input === null) continue;
      const r = this.normalize(input);
      if (!this.memo.has(r.memoKey)) roots.set(r.memoKey, r);
    }
    if (roots.size === 0) return Promise.resolve();
    const res = this.fingerprintRoots([...roots.values()]);
    return Promise.all(res.values()).then(() => undefined);
  }

  private fingerprintRoots(roots: Root[]): Map<string, Promise<PathSig>> {
    const out = new Map<string, Promise<PathSig>>();
    const dirs: Root[] = [];
    const resolved = new Map<Root, string>();
    for (const r of roots) {
      // Declared paths may be symlinks (mkosi.extra -> elsewhere): fingerprint what they point to.
      let st = lstatSync(fsPath(r.path), { throwIfNoEntry: false });
      let real = r.path;
      if (st?.isSymbolicLink() && !hasEscapes(r.path)) {
        try {
          real = realpathSync(r.path);
          st = lstatSync(real);
        } catch {
          st = undefined;
        }
      }
      resolved.set(r, real);
      if (st?.isDirectory()) dirs.push(r);
      else {
        const p = this.tree(real, r.exclude, { cache: true, storeManifests: true }).then((t) =>
          this.sigOf(r, t.fp),
        );
        this.remember(r, p, out);
      }
    }
    if (dirs.length > 0) {
      const scan = this.scan(dirs.map((r) => ({ ...r, path: resolved.get(r)! })));
      for (const r of dirs) {
        const real = resolved.get(r)!;
        const p = scan.then(async (sc) => {
          const h = sc.hashes.get(r.memoKey);
          const rec = this.rootRecord(r);
          if (h && rec && rec.path === r.path && rec.exclude === r.exclude.join("\0") && rec.statHash === h) {
            this.stats.fastHits++;
            return this.sigOf(r, rec.fp);
          }
          const t = await this.tree(real, r.exclude, {
            cache: true,
            storeManifests: true,
            scan: sc,
            root: r,
          });
          return this.sigOf(r, t.fp);
        });
        this.remember(r, p, out);
      }
    }
    return out;
  }

  private remember(r: Root, p: Promise<PathSig>, out: Map<string, Promise<PathSig>>): void {
    out.set(r.memoKey, p);
    this.memo.set(r.memoKey, p);
    p.then(
      (sig) => {
        this.done.set(r.memoKey, sig);
        if (r.exclude.length === 0 && r.raw !== undefined) this.done.set(`${r.raw}\0`, sig);
      },
      () => undefined,
    );
  }

  private sigOf(r: Root, fp: string): PathSig {
    const sig: PathSig = { path: r.path, fp };
    if (r.exclude.length > 0) sig.exclude = r.exclude;
    return sig;
  }

  /** One `find` over all roots; per root, xxh64 over every entry's stat tuple (inode, size, mtime, ctime with
   * nanoseconds, mode, owner, type). Any change to an entry changes its ctime, so an equal hash means an
   * unchanged tree. Falls back to a walk in JS when find is unavailable or reports errors. */
  private async scan(all: Root[]): Promise<StatScan> {
    const t0 = Date.now();
    const hashes = new Map<string, string>();
    // Small trees (a few config files, an extra tree) are walked here: starting a process costs more than
    // their stat calls. A tree stays on one side of the limit unless it grows or shrinks past it; if it
    // does, the hash changes kind and that one scan takes the slow path.
    const roots: Root[] = [];
    for (const r of all) {
      // A root whose path carries escaped bytes cannot be passed to find (argv is text in Node).
      const small = this.jsScan(r, hasEscapes(r.path) ? Number.POSITIVE_INFINITY : SMALL_TREE);
      if (small === undefined) roots.push(r);
      else hashes.set(r.memoKey, `js:${small}`);
    }
    if (roots.length === 0) return { t0, hashes };
    const byPath = new Map<string, Root[]>();
    for (const r of roots) byPath.set(r.path, [...(byPath.get(r.path) ?? []), r]);
    const paths = [...byPath.keys()];
    if (this.findMissing) return this.jsScanAll(all, t0);
    // Two finds side by side when there is enough to do: the stat calls are the cost, and there are two cores.
    const groups =
      paths.length >= 64 ? [paths.slice(0, paths.length >> 1), paths.slice(paths.length >> 1)] : [paths];
    const texts = await Promise.all(groups.map(runFind));
    if (texts.some((t) => t === undefined)) {
      if (findUnavailable) this.findMissing = true;
      return this.jsScanAll(all, t0);
    }
    for (let g = 0; g < groups.length; g++) {
      if (!this.cutSections(texts[g]!, groups[g]!, byPath, hashes)) return this.jsScanAll(all, t0);
    }
    return { t0, hashes };
  }

  private jsScanAll(roots: Root[], t0: number): StatScan {
    const hashes = new Map<string, string>();
    for (const r of roots) hashes.set(r.memoKey, `js:${this.jsScan(r)!}`);
    return { t0, hashes };
  }

  /** find prints the starting points in order, each one's entries contiguous, its own entry first with an
   * empty relative path ("<tuple>\0<root>\0\0", a sequence no other entry contains). Cut the output there and
   * hash each section whole; only roots with exclusions need their entries looked at one by one. */
  private cutSections(
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
          hashes.set(r.memoKey, `find:${this.xx.h64ToString(section)}`);
          continue;
        }
        const fields = section.split("\0");
        const parts: string[] = [];
        const exclude = r.exclude.map(latin1);
        for (let f = 0; f + 2 < fields.length; f += 3) {
          if (!isExcluded(fields[f + 2]!, exclude)) parts.push(fields[f]!, "\0", fields[f + 2]!, "\0");
        }
        hashes.set(r.memoKey, `findx:${this.xx.h64ToString(parts.join(""))}`);
      }
    });
    return true;
  }

  /** xxh64 over the stat tuples of a tree's entries in sorted order; undefined when it has more than `limit`
   * entries (the walk stops there). */
  private jsScan(r: Root, limit = Number.POSITIVE_INFINITY): string | undefined {
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
    return this.xx.h64ToString(parts.join(""));
  }

  async flush(): Promise<void> {
    const w = this.pendingWrites;
    this.pendingWrites = [];
    await Promise.all(w);
    if (this.pendingWrites.length === 0) this.store.pendingDirs.clear();
  }

  /** Fingerprint of a file or tree: a full walk, re-reading only entries whose stat changed (when caching). */
  async tree(path: string, exclude: string[], opts: FingerprintOptions): Promise<TreeFingerprint> {
    const rootRaw = hasEscapes(path) ? encodeName(path) : undefined;
    const st = lstatSync(rootRaw ?? path, { throwIfNoEntry: false });
    if (!st) return { fp: "absent", bytes: 0 };
    const excl = new Set(exclude);
    if (st.isDirectory()) this.stats.slowWalks++;
    const now = opts.scan?.t0 ?? Date.now();
    let racy = false;
    let bytes = 0;
    const mk = (name: string, abs: string, raw: Buffer | undefined, s: Stats): Node => {
      const tuple = statTuple(s);
      if (s.ctimeMs > now - this.racyMs) racy = true;
      bytes += s.blocks * 512;
      const n: Node = { name, abs, st: s, tuple };
      if (raw) n.raw = raw;
      return n;
    };
    const root = mk("", path, rootRaw, st);
    if (st.isDirectory()) {
      const walk = (dir: Node, rel: string) => {
        let listed: { names: string[]; escaped: boolean };
        try {
          listed = readdirChecked(dir.raw ?? dir.abs);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "ENOENT") listed = { names: [], escaped: false };
          else throw e;
        }
        const names = listed.names.sort();
        const children: Node[] = [];
        for (const name of names) {
          const crel = rel === "" ? name : `${rel}/${name}`;
          if (excl.size > 0 && isExcluded(crel, exclude)) continue;
          const cabs = `${dir.abs}/${name}`;
          const craw = dir.raw || (listed.escaped && hasEscapes(name)) ? encodeName(cabs) : undefined;
          const cst = lstatSync(craw ?? cabs, { throwIfNoEntry: false });
          if (!cst) continue;
          const child = mk(name, cabs, craw, cst);
          children.push(child);
          if (cst.isDirectory()) walk(child, crel);
        }
        dir.children = children;
      };
      walk(root, "");
    }
    // Find entries whose stat changed, re-read those.
    const changed: Node[] = [];
    const statKeys = new Map<Node, string>();
    const visit = (n: Node) => {
      if (opts.cache) {
        const k = this.xx.h64ToString(n.abs);
        statKeys.set(n, k);
        const rec = this.store.getStat(k);
        if (rec && rec.path === n.abs && rec.stat === n.tuple) {
          if (n.children) n.xattr = rec.fp;
          else n.fp = rec.fp;
        } else {
          changed.push(n);
        }
      } else {
        changed.push(n);
      }
      if (n.children) for (const c of n.children) visit(c);
    };
    visit(root);

    if (changed.length > 0) {
      const xattrs = await readXattrs(changed.map((n) => n.abs));
      this.stats.xattrCalls += Math.ceil(changed.length / GETFATTR_BATCH);
      const large: Promise<void>[] = [];
      for (const n of changed) {
        const x = xattrs.get(n.abs) ?? "";
        if (n.children) {
          n.xattr = xattrSuffix(x);
          continue;
        }
        if (n.st.isFile()) {
          this.stats.hashedFiles++;
          if (n.st.size > LARGE_FILE) {
            large.push(
              hashLargeFile(n.raw ?? n.abs).then((h) => {
                n.fp = entryOf(n.st, h, undefined) + xattrSuffix(x);
              }),
            );
          } else {
            n.fp = entryOf(n.st, sha256(readFileSync(n.raw ?? n.abs)), undefined) + xattrSuffix(x);
          }
        } else if (n.st.isSymbolicLink()) {
          n.fp = entryOf(n.st, undefined, readlinkName(n.raw ?? n.abs)) + xattrSuffix(x);
        } else {
          n.fp = entryOf(n.st, undefined, undefined) + xattrSuffix(x);
        }
      }
      await Promise.all(large);
      if (opts.cache) {
        for (const n of changed) {
          if (n.st.ctimeMs > now - this.racyMs) continue;
          const fp = n.children ? n.xattr! : n.fp!;
          this.pendingWrites.push(this.store.stat.put(statKeys.get(n)!, { path: n.abs, stat: n.tuple, fp }));
        }
      }
    }

    // Directory digests, bottom-up.
    const dirFp = (n: Node): string => {
      const entries: DirManifest = n.children!.map((c) => [c.name, c.children ? dirFp(c) : c.fp!]);
      const digest = manifestDigest(entries);
      if (opts.storeManifests && !this.store.pendingDirs.has(digest) && !this.store.dir.doesExist(digest)) {
        this.store.pendingDirs.set(digest, entries);
        this.pendingWrites.push(this.store.dir.put(digest, entries));
      }
      return `d ${perm(n.st)} ${n.st.uid}:${n.st.gid} ${digest}${n.xattr ?? ""}`;
    };
    let fp: string;
    if (root.children) {
      const full = dirFp(root);
      fp = `D ${full.split(" ")[3]}`;
    } else {
      fp = root.fp!;
    }
    const statHash = opts.root ? opts.scan?.hashes.get(opts.root.memoKey) : undefined;
    if (opts.root && statHash && !racy) {
      const rec: RootRecord = { path: opts.root.path, exclude: exclude.join("\0"), statHash, fp };
      this.pendingWrites.push(this.store.root.put(opts.root.rootKey, rec));
    }
    return { fp, bytes };
  }
}

/** Files that differ between two fingerprints (paths relative to the declared path). Needs the stored
 * manifests; returns undefined when they are gone. */
export function diffTrees(
  store: Store,
  oldFp: string,
  newFp: string,
): { added: string[]; removed: string[]; modified: string[] } | undefined {
  const res = { added: [] as string[], removed: [] as string[], modified: [] as string[] };
  const digestOf = (fp: string) =>
    fp.startsWith("D ") ? fp.slice(2) : fp.startsWith("d ") ? fp.split(" ")[3] : undefined;
  const listAll = (digest: string, prefix: string, into: string[]): boolean => {
    const m = store.getDir(digest);
    if (!m) return false;
    for (const [name, fp] of m) {
      const rel = prefix + name;
      into.push(rel);
      const d = fp.startsWith("d ") ? digestOf(fp) : undefined;
      if (d && !listAll(d, `${rel}/`, into)) return false;
    }
    return true;
  };
  const cmp = (a: string, b: string, prefix: string): boolean => {
    if (a === b) return true;
    const ma = store.getDir(a);
    const mb = store.getDir(b);
    if (!ma || !mb) return false;
    const A = new Map(ma);
    const B = new Map(mb);
    for (const [name, fa] of ma) {
      const rel = prefix + name;
      const fb = B.get(name);
      if (fb === undefined) {
        res.removed.push(rel);
        const d = fa.startsWith("d ") ? digestOf(fa) : undefined;
        if (d && !listAll(d, `${rel}/`, res.removed)) return false;
      } else if (fa !== fb) {
        const da = fa.startsWith("d ") ? digestOf(fa) : undefined;
        const db = fb.startsWith("d ") ? digestOf(fb) : undefined;
        if (da && db) {
          // Directory metadata (mode, owner, xattrs) changed: report the directory itself.
          if (fa.replace(da, "") !== fb.replace(db, "")) res.modified.push(rel);
          if (!cmp(da, db, `${rel}/`)) return false;
        } else {
          res.modified.push(rel);
          if (da && !listAll(da, `${rel}/`, res.removed)) return false;
          if (db && !listAll(db, `${rel}/`, res.added)) return false;
        }
      }
    }
    for (const [name, fb] of mb) {
      if (A.has(name)) continue;
      const rel = prefix + name;
      res.added.push(rel);
      const d = fb.startsWith("d ") ? digestOf(fb) : undefined;
      if (d && !listAll(d, `${rel}/`, res.added)) return false;
    }
    return true;
  };
  const da = digestOf(oldFp);
  const db = digestOf(newFp);
  // For people: names that are not UTF-8 with their bytes as \xNN.
  const shown = () => ({
    added: res.added.map(displayName),
    removed: res.removed.map(displayName),
    modified: res.modified.map(displayName),
  });
  if (oldFp.startsWith("D ") && newFp.startsWith("D ") && da && db) {
    return cmp(da, db, "") ? shown() : undefined;
  }
  if (newFp.startsWith("D ") && db && (oldFp === "absent" || oldFp === "none")) {
    return listAll(db, "", res.added) ? shown() : undefined;
  }
  if (oldFp.startsWith("D ") && da && (newFp === "absent" || newFp === "none")) {
    return listAll(da, "", res.removed) ? shown() : undefined;
  }
  return undefined;
}
