// Comparing directory trees as an image output must reproduce them.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Everything about a tree that an output must reproduce, one line per entry (atime and ctime aside). */
export function describeTree(dir: string): string[] {
  const listing = execFileSync("find", [".", "-printf", "%y %m %U %G %s %T@ %i %l|%P\\0"], {
    cwd: dir,
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  const entries = listing.split("\0").filter(Boolean);
  const groups = new Map<string, string[]>();
  const rows = entries.map((line) => {
    const [meta, path] = [line.slice(0, line.indexOf("|")), line.slice(line.indexOf("|") + 1)];
    const [type, mode, uid, gid, size, mtime, ino, ...target] = meta.split(" ");
    if (type === "f") groups.set(ino!, [...(groups.get(ino!) ?? []), path]);
    return {
      path,
      type,
      ino: ino!,
      text: `${type} ${mode} ${uid}:${gid} ${size} ${mtime} ${target.join(" ")}`,
    };
  });
  const xattrs = execFileSync("getfattr", ["-R", "-h", "-d", "-m", "-", "-e", "hex", "."], {
    cwd: dir,
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  const byPath = new Map<string, string>();
  for (const block of xattrs.split("\n\n")) {
    const lines = block.trim().split("\n");
    const name = lines[0]?.replace(/^# file: \.\/?/, "");
    if (name !== undefined && lines.length > 1) byPath.set(name, lines.slice(1).sort().join(","));
  }
  return rows
    .map((r) => {
      const content =
        r.type === "f"
          ? createHash("sha256")
              .update(readFileSync(join(dir, r.path)))
              .digest("hex")
          : "";
      const group = r.type === "f" ? (groups.get(r.ino) ?? []).sort()[0] : "";
      return `${r.path || "."} ${r.text} ${content} link:${group} xattr:${byPath.get(r.path) ?? ""}`;
    })
    .sort();
}
