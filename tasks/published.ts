// What this cache last published at an output path: one small record per main output, next to the engine's
// store. The publish node is cached like any other, but its real product lives outside the cache (the
// output directory), where it can be replaced by another build (a different cache, an older key) or by the
// user. The record binds the output to the publish key that produced it: a build whose publish node is
// cached still publishes again when the output at the path is not, as far as the record can tell, that
// node's output. For Format=directory it also says which layer stack the tree was made from and carries a
// stamp of the tree, so the next publish can update it from the layers that changed instead of copying
// everything (steps/publish.ts).
//
// The record is removed before a publish touches the output and written again only once the new output
// is complete, so an interrupted publish (kill -9 included) leaves no record, and the next build neither
// trusts the output as up to date nor uses it as the base of an incremental update.
//
// Apart from that record, which says whether an output can be trusted, the cache keeps a claim on every
// entry a publish put in the output directory (by inode and birth time, which a rename keeps and a new
// file does not reuse): only claimed entries are replaced without -f. A user's directory or file at an
// output path, or one put in place of a published output, is not; the build refuses before any work
// (`foreignOutputs`) and names it. Claims are made before the staged entries move into place and never
// dropped by an interrupted publish, so the output of a killed build is still ours to replace.
import { createHash } from "node:crypto";
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { syncFileSystem } from "../engine/durable.js";
import { decodeNames, encodeName } from "../engine/filenames.js";
import { shortHash } from "./env.js";

export interface PublishedTree {
  /** Artifact keys of the image layers the tree is the merged view of, bottom first. */
  stack: string[];
  /** SHA-256 of the tree's listing (formats/treeupdate.ts treeListing) right after publishing; the
   * listing itself is kept in a file next to the record. */
  listing: string;
  /** SourceDateEpoch= the tree's times were clamped to. */
  epoch: number | null;
  /** Post-output scripts ran on the tree (so it is not the merged view alone). */
  scripts: boolean;
  /** formats/treeupdate.ts treeSnapshot of the tree once published: a no-op build compares it with the
   * tree's snapshot now (records written before it was kept have none: their listing is compared). */
  snapshot?: string;
}

export interface PublishedRecord {
  version: 1;
  /** The main output path. */
  path: string;
  /** Key of the publish node that wrote it. */
  key: string;
  /** Inode and change time of the main output right after publishing: a replaced or renamed output, or a
   * touched file output, no longer matches. */
  ino: string;
  ctime: string;
  tree: PublishedTree | null;
}

function recordPath(cacheDir: string, outputPath: string, ext = "json"): string {
  return join(cacheDir, "published", `${shortHash(outputPath)}.${ext}`);
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Inode and change time of `path` (not followed), or undefined when there is nothing there. */
export async function outputIdentity(path: string): Promise<{ ino: string; ctime: string } | undefined> {
  const st = await lstat(path, { bigint: true }).catch(() => undefined);
  return st ? { ino: String(st.ino), ctime: String(st.ctimeNs) } : undefined;
}

function isRecord(value: unknown, path: string): value is PublishedRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  if (r.version !== 1 || r.path !== path || typeof r.key !== "string") return false;
  if (typeof r.ino !== "string" || typeof r.ctime !== "string") return false;
  if (r.tree === null) return true;
  const t = r.tree as Record<string, unknown> | undefined;
  return (
    typeof t === "object" &&
    Array.isArray(t.stack) &&
    t.stack.every((k) => typeof k === "string") &&
    typeof t.listing === "string" &&
    (t.epoch === null || typeof t.epoch === "number") &&
    typeof t.scripts === "boolean" &&
    (t.snapshot === undefined || typeof t.snapshot === "string")
  );
}

/** The record for `outputPath`, whether or not the output there is still the one it describes. */
async function readRecord(cacheDir: string, outputPath: string): Promise<PublishedRecord | undefined> {
  let text: string;
  try {
    text = await readFile(recordPath(cacheDir, outputPath), "utf8");
  } catch {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isRecord(value, outputPath) ? value : undefined;
}

/** The record for `outputPath`, if there is one and the output there is still the one it describes
 * (same inode and change time). */
export async function readPublished(
  cacheDir: string,
  outputPath: string,
): Promise<PublishedRecord | undefined> {
  const value = await readRecord(cacheDir, outputPath);
  if (!value) return undefined;
  const id = await outputIdentity(outputPath);
  if (!id || id.ino !== value.ino || id.ctime !== value.ctime) return undefined;
  return value;
}

/** What is at an output path, as far as the record of what was published there tells. */
export interface OutputState {
  /** Something is at the path. */
  present: boolean;
  /** The record of what this cache published there (present or not, changed or not). */
  record: PublishedRecord | undefined;
  /** It is what this cache published, but changed since (a boot that was not ephemeral, an edit): the
   * changes are the user's, and only -f may replace them. */
  changed: boolean;
}

export async function outputState(cacheDir: string, outputPath: string): Promise<OutputState> {
  const id = await outputIdentity(outputPath);
  const record = await readRecord(cacheDir, outputPath);
  if (!id || !record) return { present: id !== undefined, record, changed: false };
  // Another inode: not what was published there (replaced, e.g. by the user's own directory): whose it is
  // is for the claims to say (ownsOutput), as for an output without a record.
  if (id.ino !== record.ino) return { present: true, record: undefined, changed: false };
  const same = id.ctime === record.ctime && (await publishedTreeUntouched(cacheDir, record));
  return { present: true, record, changed: !same };
}

/** The listing of a directory output a record describes, if it is the one the record names. */
export async function readPublishedListing(
  cacheDir: string,
  record: PublishedRecord,
): Promise<string | undefined> {
  if (!record.tree) return undefined;
  // Names are byte-exact (engine/filenames.ts): the file holds their bytes.
  const bytes = await readFile(recordPath(cacheDir, record.path, "listing")).catch(() => undefined);
  const text = bytes && decodeNames(bytes);
  return text !== undefined && sha256(text) === record.tree.listing ? text : undefined;
}

/**
 * Is the directory output a record describes still as it was published? Its listing now (every entry's
 * type, inode, link count, change and modification time, size, mode, owner: a `find`, no contents read)
 * must equal the one recorded; any write, even one that keeps size and modification time, changes a
 * change time, which user space cannot set back. File outputs: their change time is in the record.
 */
export async function publishedTreeUntouched(cacheDir: string, record: PublishedRecord): Promise<boolean> {
  if (!record.tree) return true;
  if (record.tree.snapshot !== undefined) {
    const { treeSnapshot } = await import("../formats/treeupdate.js");
    return (await treeSnapshot(record.path).catch(() => undefined)) === record.tree.snapshot;
  }
  const recorded = await readPublishedListing(cacheDir, record);
  if (recorded === undefined) return false;
  const { parseSerializedListing, sameListing, treeListing } = await import("../formats/treeupdate.js");
  const now = await treeListing(record.path).catch(() => undefined);
  return now !== undefined && sameListing(now, parseSerializedListing(recorded));
}

/** Stop trusting whatever is at `outputPath` (before a publish changes it). */
export async function forgetPublished(cacheDir: string, outputPath: string): Promise<void> {
  await rm(recordPath(cacheDir, outputPath), { force: true });
  await rm(recordPath(cacheDir, outputPath, "listing"), { force: true });
}

/** Record what was just published at `record.path` (written to a temporary file, then renamed). */
export async function writePublished(
  cacheDir: string,
  record: Omit<PublishedRecord, "ino" | "ctime" | "version" | "tree">,
  tree?: { listing: string } & Omit<PublishedTree, "listing">,
): Promise<void> {
  const id = await outputIdentity(record.path);
  if (!id) return;
  // The output's files reach the disk before the record that vouches for them (see engine/durable.ts).
  await syncFileSystem(record.path);
  await mkdir(join(cacheDir, "published"), { recursive: true });
  const put = async (file: string, text: string) => {
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, encodeName(text));
    await rename(tmp, file);
  };
  if (tree) await put(recordPath(cacheDir, record.path, "listing"), tree.listing);
  const full: PublishedRecord = {
    version: 1,
    ...record,
    ...id,
    tree: tree ? { ...tree, listing: sha256(tree.listing) } : null,
  };
  await put(recordPath(cacheDir, record.path), `${JSON.stringify(full)}\n`);
}

/** What identifies a file system entry across renames: inode and birth time (0 where the file system
 * records none). */
interface EntryIdentity {
  ino: string;
  birth: string;
}

/** The entries a publish of an image placed in its output directory, by name. */
interface OwnedRecord {
  version: 1;
  /** The main output path (one record per image). */
  path: string;
  entries: Record<string, EntryIdentity[]>;
}

function ownedPath(cacheDir: string, outputPath: string): string {
  return join(cacheDir, "owned", `${shortHash(outputPath)}.json`);
}

async function identityOf(path: string): Promise<EntryIdentity | undefined> {
  const st = await lstat(path, { bigint: true }).catch(() => undefined);
  return st ? { ino: String(st.ino), birth: String(st.birthtimeNs) } : undefined;
}

async function readOwned(cacheDir: string, outputPath: string): Promise<OwnedRecord> {
  const empty: OwnedRecord = { version: 1, path: outputPath, entries: {} };
  const text = await readFile(ownedPath(cacheDir, outputPath), "utf8").catch(() => undefined);
  if (text === undefined) return empty;
  return parseOwned(text, outputPath) ?? empty;
}

/** The claims in `text`: of the image whose main output is `outputPath`, or of any image without it. */
function parseOwned(text: string, outputPath?: string): OwnedRecord | undefined {
  try {
    const value = JSON.parse(text) as OwnedRecord;
    if (
      value?.version !== 1 ||
      typeof value.path !== "string" ||
      (outputPath !== undefined && value.path !== outputPath) ||
      typeof value.entries !== "object"
    )
      return undefined;
    for (const ids of Object.values(value.entries)) {
      if (
        !Array.isArray(ids) ||
        !ids.every((id) => typeof id?.ino === "string" && typeof id.birth === "string")
      )
        return undefined;
    }
    return value;
  } catch {
    return undefined;
  }
}

async function writeOwned(cacheDir: string, record: OwnedRecord): Promise<void> {
  await mkdir(join(cacheDir, "owned"), { recursive: true });
  const file = ownedPath(cacheDir, record.path);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(record)}\n`);
  await rename(tmp, file);
}

/** Was the entry now at `path` (in the output directory of the image whose main output is `outputPath`)
 * placed there by a publish of this cache? False when nothing is there. The image's own claims come first;
 * then those this cache made under another main output in the same directory: the main output's name
 * changes with Format= and CompressOutput=, and what the image published under its old name (its `img`
 * directory before Format=tar makes `img` a symlink) is still ours. A claim names one entry (inode and
 * birth time), so no claim of another record can cover a file that is not the one this cache published. */
export async function ownsOutput(cacheDir: string, outputPath: string, path: string): Promise<boolean> {
  const id = await identityOf(path);
  if (!id) return false;
  const claims = (record: OwnedRecord) =>
    (record.entries[basename(path)] ?? []).some((c) => c.ino === id.ino && c.birth === id.birth);
  if (claims(await readOwned(cacheDir, outputPath))) return true;
  // Claimed by a publish of the same directory under another main output: the image's Format= or
  // Output= changed (a directory output, then a tar whose symlink takes the directory's name).
  const dir = dirname(outputPath);
  const names = await readdir(join(cacheDir, "owned")).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.endsWith(".json")) continue;
    const text = await readFile(join(cacheDir, "owned", name), "utf8").catch(() => undefined);
    const record = text === undefined ? undefined : parseOwned(text);
    if (record && dirname(record.path) === dir && claims(record)) return true;
  }
  return false;
}

/** The paths among `paths` (outputs of the image whose main output is `paths[0]`) that exist and were not
 * published by this cache: a build must not replace them without -f. */
export async function foreignOutputs(cacheDir: string, paths: readonly string[]): Promise<string[]> {
  const main = paths[0];
  if (main === undefined) return [];
  // Outputs published before claims were kept: a record that still vouches for the main output adopts
  // the outputs there once.
  const claims = await readFile(ownedPath(cacheDir, main), "utf8").catch(() => undefined);
  if (claims === undefined && (await readPublished(cacheDir, main))) {
    await settleOutputs(
      cacheDir,
      main,
      paths.map((path) => basename(path)),
    );
    return [];
  }
  const foreign: string[] = [];
  for (const path of paths) {
    if ((await identityOf(path)) && !(await ownsOutput(cacheDir, main, path))) foreign.push(path);
  }
  return foreign;
}

/** The error for outputs a build will not replace (worded after upstream's "Output path … exists
 * already. (Use --force to rebuild.)"). */
export function foreignOutputsMessage(paths: readonly string[]): string {
  const what = paths.map(
    (p) => `Output path ${p} exists already and was not built by mkosi with this cache.`,
  );
  return `${what.join("\n")}\n(Use --force to replace ${paths.length === 1 ? "it" : "them"}.)`;
}

/** Before staged entries move into the output directory: claim them (a rename keeps their identity), so
 * that whatever an interruption leaves in place is still ours. */
export async function claimOutputs(
  cacheDir: string,
  outputPath: string,
  staging: string,
  names: readonly string[],
): Promise<void> {
  const record = await readOwned(cacheDir, outputPath);
  for (const name of names) {
    const id = await identityOf(join(staging, name));
    // Bounded: a publish interrupted again and again does not grow the record forever.
    if (id) record.entries[name] = [...(record.entries[name] ?? []), id].slice(-8);
  }
  await writeOwned(cacheDir, record);
}

/** After a publish: the claim is exactly what is now at each published name. */
export async function settleOutputs(
  cacheDir: string,
  outputPath: string,
  names: readonly string[],
): Promise<void> {
  const record = await readOwned(cacheDir, outputPath);
  const dir = dirname(outputPath);
  for (const name of names) {
    const id = await identityOf(join(dir, name));
    if (id) record.entries[name] = [id];
    else delete record.entries[name];
  }
  await writeOwned(cacheDir, record);
}

/** After a publish: what an earlier publish of this image put in the output directory and this one did not
 * (a split artifact no longer asked for or renamed, an $OUTPUTDIR file a script no longer writes) is
 * removed, when it is still the entry that was published (a user's file in its place stays). Returns the
 * names removed. */
export async function retireOutputs(
  cacheDir: string,
  outputPath: string,
  current: readonly string[],
): Promise<string[]> {
  const record = await readOwned(cacheDir, outputPath);
  const dir = dirname(outputPath);
  const keep = new Set(current);
  const removed: string[] = [];
  let changed = false;
  for (const [name, claims] of Object.entries(record.entries)) {
    if (keep.has(name)) continue;
    const id = await identityOf(join(dir, name));
    if (id && claims.some((c) => c.ino === id.ino && c.birth === id.birth)) {
      await rm(join(dir, name), { recursive: true, force: true });
      removed.push(name);
    }
    delete record.entries[name];
    changed = true;
  }
  if (changed) await writeOwned(cacheDir, record);
  return removed.sort();
}
