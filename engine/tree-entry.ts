// The entry string of one file in a fingerprint, covering everything that makes a file what it is in
// an image:
//
//   f <mode> <uid>:<gid> <sha256 of content>[ x<sha256 of xattrs>]
//   l <uid>:<gid> <JSON link target>[ x...]
//   c|b <mode> <uid>:<gid> <major>:<minor>[ x...]      (overlayfs whiteouts are c 0:0)
//   p|s <mode> <uid>:<gid>[ x...]
//   d <mode> <uid>:<gid> <sha256 of the directory manifest>[ x...]   (opaque dirs carry trusted.overlay.opaque)
//
// and the digest of a directory manifest (the sorted list of [name, entry] of its children).

import { createHash } from "node:crypto";
import { createReadStream, type Stats } from "node:fs";
import { sha256 } from "./encoding.js";
import type { DirManifest } from "./store.js";

function major(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}
function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & ~0xff & 0xfffff);
}

export function perm(st: Stats): string {
  return (st.mode & 0o7777).toString(8);
}

/** The entry string of a non-directory, without xattrs. `content` is the content digest for files. */
export function entryOf(st: Stats, content: string | undefined, link: string | undefined): string {
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

export function xattrSuffix(x: string | undefined): string {
  return x ? ` x${sha256(x)}` : "";
}

export async function hashLargeFile(path: string | Buffer): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest("hex");
}
