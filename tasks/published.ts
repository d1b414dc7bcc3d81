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
import { createHash } from "node:crypto";
import { lstat, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { syncFileSystem } from "../engine/durable.js";
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
    typeof t.scripts === "boolean"
  );
}

/** The record for `outputPath`, if there is one and the output there is still the one it describes
 * (same inode and change time). */
export async function readPublished(
  cacheDir: string,
  outputPath: string,
): Promise<PublishedRecord | undefined> {
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
  if (!isRecord(value, outputPath)) return undefined;
  const id = await outputIdentity(outputPath);
  if (!id || id.ino !== value.ino || id.ctime !== value.ctime) return undefined;
  return value;
}

/** The listing of a directory output a record describes, if it is the one the record names. */
export async function readPublishedListing(
  cacheDir: string,
  record: PublishedRecord,
): Promise<string | undefined> {
  if (!record.tree) return undefined;
  const text = await readFile(recordPath(cacheDir, record.path, "listing"), "utf8").catch(() => undefined);
  return text !== undefined && sha256(text) === record.tree.listing ? text : undefined;
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
    await writeFile(tmp, text);
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
