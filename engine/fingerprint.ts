// Fingerprints of files and trees, with a stat cache so unchanged files are never re-read.
//
// A fingerprint entry is a typed string covering everything that makes a file what it is in an image
// (its forms: engine/tree-entry.ts).
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
//
// The parts: tree-entry.ts (entry strings, manifest digests), xattrs.ts (batched getfattr), stat-scan.ts
// (the fast path's stat hash), tree-diff.ts (which files changed between two fingerprints).

import { lstatSync, readFileSync, realpathSync, type Stats } from "node:fs";
import { resolve } from "node:path";
import type { XXHashAPI } from "xxhash-wasm";
import type { PathInput } from "./api.js";
import { sha256 } from "./encoding.js";
import { encodeName, fsPath, hasEscapes, readdirChecked, readlinkName } from "./filenames.js";
import {
  cutSections,
  findIsUnavailable,
  isExcluded,
  jsScan,
  type Root,
  runFind,
  SMALL_TREE,
  type StatScan,
  statTuple,
} from "./stat-scan.js";
import type { DirManifest, PathSig, RootRecord, Store } from "./store.js";
import { entryOf, hashLargeFile, manifestDigest, perm, xattrSuffix } from "./tree-entry.js";
import { GETFATTR_BATCH, readXattrs } from "./xattrs.js";

export { diffTrees } from "./tree-diff.js";
export { manifestDigest } from "./tree-entry.js";
export { readXattrs } from "./xattrs.js";

/** Entries whose ctime is within this window of the walk are not cached (timestamps are coarse). */
const RACY_MS = 2000;
/** Files above this size are hashed asynchronously, in chunks. */
const LARGE_FILE = 4 * 1024 * 1024;

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

export interface FingerprintOptions {
  /** Use and fill the stat cache (inputs); off for fresh outputs. */
  cache: boolean;
  /** Store directory manifests (needed to explain which files changed). */
  storeManifests: boolean;
  /** The stat scan this walk follows, and the declared root it serves: stores the per-path record. */
  scan?: StatScan;
  root?: Root;
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
      const small = jsScan(this.xx, r, hasEscapes(r.path) ? Number.POSITIVE_INFINITY : SMALL_TREE);
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
      if (findIsUnavailable()) this.findMissing = true;
      return this.jsScanAll(all, t0);
    }
    for (let g = 0; g < groups.length; g++) {
      if (!cutSections(this.xx, texts[g]!, groups[g]!, byPath, hashes)) return this.jsScanAll(all, t0);
    }
    return { t0, hashes };
  }

  private jsScanAll(roots: Root[], t0: number): StatScan {
    const hashes = new Map<string, string>();
    for (const r of roots) hashes.set(r.memoKey, `js:${jsScan(this.xx, r)!}`);
    return { t0, hashes };
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
