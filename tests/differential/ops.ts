// Edits of a configuration tree as plain data: each is self-contained (it names its path and the new state,
// never "the next" or "the previous" one), so a recorded sequence can be printed, saved as JSON, replayed,
// and replayed in part while a failure is reduced (an edit whose path is gone is skipped).
//
// Paths are relative to the configuration directory, as escaped bytes (listing.ts: \xNN for every byte
// that is not printable ASCII), so names need not be UTF-8.
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { unescapeBytes } from "./listing.js";

/** File content: UTF-8 text, or escaped bytes. */
export type Data = string | { bytes: string };

export type Op =
  /** Create or replace a file (parents created), then set its mode. */
  | { op: "write"; path: string; data: Data; mode?: number }
  | { op: "chmod"; path: string; mode: number }
  | { op: "chown"; path: string; uid: number; gid: number }
  /** Replace whatever is at path by a symlink. */
  | { op: "symlink"; path: string; target: string }
  | { op: "mkdir"; path: string; mode?: number }
  | { op: "remove"; path: string }
  | { op: "rename"; from: string; to: string }
  /** Set (or with null, remove) a user xattr. */
  | { op: "xattr"; path: string; name: string; value: string | null }
  /** Change nothing but the times. */
  | { op: "touch"; path: string }
  /** Write a file's own content back to it (a new inode's worth of writes, same bytes). */
  | { op: "rewrite"; path: string }
  /** Pack a directory into a tar archive (deterministic: sorted, numeric owners kept, fixed mtime). */
  | { op: "tar"; dir: string; archive: string }
  /** Set a setting of the main mkosi.conf (null: remove it); mkosi.conf is written from the model. */
  | { op: "set"; key: string; value: string | null }
  /** Not an edit of the tree: the user removes the incremental build's outputs (the cache stays), as
   * `mkosi -f build` does first. Handled by the runner. */
  | { op: "remove-outputs" };

/** Why an edit could not be applied (its path is gone in a partial replay): the edit is skipped. */
export class SkippedOp extends Error {}

function bytesOf(data: Data): Buffer {
  return typeof data === "string" ? Buffer.from(data, "utf8") : unescapeBytes(data.bytes);
}

function abs(root: string, path: string): Buffer {
  return Buffer.concat([Buffer.from(`${root}/`), unescapeBytes(path)]);
}

function parentOf(path: Buffer): Buffer {
  const slash = path.lastIndexOf(0x2f);
  return path.subarray(0, slash);
}

function lexists(path: Buffer): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Make the parent directories of `path`; a non-directory in the way is replaced by a directory. */
function makeParents(root: string, path: Buffer): void {
  const parent = parentOf(path);
  if (parent.length <= root.length) return;
  try {
    if (lstatSync(parent).isDirectory()) return;
    rmSync(parent, { force: true });
  } catch {
    // absent
  }
  makeParents(root, parent);
  mkdirSync(parent);
}

function need(path: Buffer, text: string): void {
  if (!lexists(path)) throw new SkippedOp(`${text}: absent`);
}

/** Apply one edit to the configuration tree at `root`. `setting` handles `set` edits. */
export function applyOp(
  root: string,
  op: Exclude<Op, { op: "remove-outputs" }>,
  setting: (key: string, value: string | null) => void,
): void {
  switch (op.op) {
    case "write": {
      const path = abs(root, op.path);
      makeParents(root, path);
      if (lexists(path) && !lstatSync(path).isFile()) rmSync(path, { recursive: true, force: true });
      writeFileSync(path, bytesOf(op.data));
      if (op.mode !== undefined) chmodSync(path, op.mode);
      return;
    }
    case "chmod": {
      const path = abs(root, op.path);
      need(path, op.path);
      if (lstatSync(path).isSymbolicLink()) throw new SkippedOp(`${op.path}: a symlink`);
      chmodSync(path, op.mode);
      return;
    }
    case "chown": {
      const path = abs(root, op.path);
      need(path, op.path);
      lchownSync(path, op.uid, op.gid);
      return;
    }
    case "symlink": {
      const path = abs(root, op.path);
      makeParents(root, path);
      rmSync(path, { recursive: true, force: true });
      symlinkSync(unescapeBytes(op.target), path);
      return;
    }
    case "mkdir": {
      const path = abs(root, op.path);
      makeParents(root, path);
      if (lexists(path) && !lstatSync(path).isDirectory()) rmSync(path, { force: true });
      if (!lexists(path)) mkdirSync(path);
      if (op.mode !== undefined) chmodSync(path, op.mode);
      return;
    }
    case "remove": {
      const path = abs(root, op.path);
      need(path, op.path);
      rmSync(path, { recursive: true, force: true });
      return;
    }
    case "rename": {
      const from = abs(root, op.from);
      const to = abs(root, op.to);
      need(from, op.from);
      makeParents(root, to);
      rmSync(to, { recursive: true, force: true });
      renameSync(from, to);
      return;
    }
    case "xattr": {
      const path = abs(root, op.path);
      need(path, op.path);
      if (lstatSync(path).isSymbolicLink()) throw new SkippedOp(`${op.path}: a symlink`);
      // setfattr takes the path as an argument, and arguments from node are UTF-8: the path's bytes reach
      // it through stdin instead (NUL-terminated, read by bash).
      const args = op.value === null ? ["-x", op.name] : ["-n", op.name, "-v", op.value];
      execFileSync(
        "bash",
        // Removing an attribute the file does not have changes nothing: not an error.
        [
          "-c",
          'IFS= read -r -d "" path; setfattr "$@" -- "$path" 2>/dev/null || [ "$1" = -x ]',
          "bash",
          ...args,
        ],
        {
          input: Buffer.concat([path, Buffer.from([0])]),
          stdio: ["pipe", "ignore", "pipe"],
        },
      );
      return;
    }
    case "touch": {
      const path = abs(root, op.path);
      need(path, op.path);
      if (lstatSync(path).isSymbolicLink()) throw new SkippedOp(`${op.path}: a symlink`);
      const now = new Date();
      utimesSync(path, now, now);
      return;
    }
    case "rewrite": {
      const path = abs(root, op.path);
      need(path, op.path);
      if (!lstatSync(path).isFile()) throw new SkippedOp(`${op.path}: not a file`);
      writeFileSync(path, readFileSync(path));
      return;
    }
    case "tar": {
      const dir = abs(root, op.dir);
      need(dir, op.dir);
      const archive = abs(root, op.archive);
      makeParents(root, archive);
      execFileSync(
        "tar",
        [
          "--create",
          "--sort=name",
          "--numeric-owner",
          "--xattrs",
          "--xattrs-include=*",
          "--mtime=@1",
          "--format=pax",
          "--pax-option=delete=atime,delete=ctime",
          "--file",
          archive.toString("latin1"),
          "--directory",
          dir.toString("latin1"),
          ".",
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      return;
    }
    case "set":
      setting(op.key, op.value);
      return;
  }
}

/** One line per edit, for logs and failure reports. */
export function describeOp(op: Op): string {
  const data = (d: Data) => {
    const text = typeof d === "string" ? JSON.stringify(d) : `bytes:${d.bytes}`;
    return text.length > 60 ? `${text.slice(0, 57)}…` : text;
  };
  switch (op.op) {
    case "write":
      return `write ${op.path} ${data(op.data)}${op.mode !== undefined ? ` mode ${op.mode.toString(8)}` : ""}`;
    case "chmod":
      return `chmod ${op.mode.toString(8)} ${op.path}`;
    case "chown":
      return `chown ${op.uid}:${op.gid} ${op.path}`;
    case "symlink":
      return `symlink ${op.path} -> ${op.target}`;
    case "mkdir":
      return `mkdir ${op.path}${op.mode !== undefined ? ` mode ${op.mode.toString(8)}` : ""}`;
    case "remove":
      return `remove ${op.path}`;
    case "rename":
      return `rename ${op.from} -> ${op.to}`;
    case "xattr":
      return op.value === null ? `xattr -x ${op.name} ${op.path}` : `xattr ${op.name}=${op.value} ${op.path}`;
    case "touch":
      return `touch ${op.path}`;
    case "rewrite":
      return `rewrite ${op.path} (same content)`;
    case "tar":
      return `tar ${op.dir} -> ${op.archive}`;
    case "set":
      return op.value === null ? `unset ${op.key}=` : `set ${op.key}=${op.value}`;
    case "remove-outputs":
      return "remove the incremental output directory's content";
  }
}
