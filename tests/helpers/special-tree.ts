// A tree holding everything an artifact (an overlay layer) can hold, and a strict listing of a tree that
// sees all of it: names as bytes, type, mode, owner, size, mtime (ns), device numbers, content, link
// target, hard-link groups and every xattr.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

/** security.capability for cap_net_raw+ep (VFS_CAP_REVISION_2), as setcap writes it. */
export const CAP_NET_RAW = "0x0100000200200000000000000000000000000000";

function run(cmd: string, args: string[], cwd: string): void {
  execFileSync(cmd, args, { cwd, stdio: "pipe" });
}

/** The parts of a special tree, each made by its own function so tests can check them one by one. */
export const SPECIAL_PARTS: Record<string, (dir: string) => void> = {
  owners(dir) {
    writeFileSync(join(dir, "owned"), "owned\n");
    run("chown", ["1234:5678", "owned"], dir);
    symlinkSync("owned", join(dir, "owned-link"));
    run("chown", ["-h", "42:43", "owned-link"], dir);
  },
  modes(dir) {
    writeFileSync(join(dir, "setuid"), "#!/bin/sh\n");
    run("chmod", ["4751", "setuid"], dir);
    mkdirSync(join(dir, "sticky"));
    run("chmod", ["1777", "sticky"], dir);
    mkdirSync(join(dir, "readonly-dir"));
    writeFileSync(join(dir, "readonly-dir/file"), "x");
    run("chmod", ["0444", "readonly-dir/file"], dir);
    run("chmod", ["0555", "readonly-dir"], dir);
  },
  xattrs(dir) {
    writeFileSync(join(dir, "ping"), "ping binary\n");
    run("chown", ["0:0", "ping"], dir);
    run("chmod", ["0755", "ping"], dir);
    run("setfattr", ["-n", "security.capability", "-v", CAP_NET_RAW, "ping"], dir);
    run("setfattr", ["-n", "user.note", "-v", "hello", "ping"], dir);
    mkdirSync(join(dir, "empty-xattr"));
    run("setfattr", ["-n", "user.empty", "empty-xattr"], dir);
  },
  overlay(dir) {
    mkdirSync(join(dir, "opaque/keep"), { recursive: true });
    run("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", "opaque"], dir);
    writeFileSync(join(dir, "opaque/keep/file"), "kept\n");
    run("mknod", ["whiteout", "c", "0", "0"], dir);
    run("mknod", ["opaque/removed", "c", "0", "0"], dir);
  },
  devices(dir) {
    run("mknod", ["-m", "0666", "null", "c", "1", "3"], dir);
    run("mknod", ["-m", "0660", "loop0", "b", "7", "0"], dir);
    run("mkfifo", ["-m", "0600", "fifo"], dir);
  },
  hardlinks(dir) {
    writeFileSync(join(dir, "hl-a"), "same inode\n");
    linkSync(join(dir, "hl-a"), join(dir, "hl-b"));
    mkdirSync(join(dir, "hl-dir"));
    linkSync(join(dir, "hl-a"), join(dir, "hl-dir/hl-c"));
  },
  longPaths(dir) {
    const part = "p".repeat(200);
    const deep = join(dir, part, part, part, part, part);
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, "n".repeat(255)), "deep\n");
    symlinkSync("t".repeat(1000), join(dir, "long-target"));
  },
  nonUtf8(dir) {
    const base = Buffer.from(dir);
    writeFileSync(Buffer.concat([base, Buffer.from("/bad-\xff\xfe-name", "latin1")]), "bytes\n");
    mkdirSync(Buffer.concat([base, Buffer.from("/dir-\xc3(", "latin1")]));
    writeFileSync(Buffer.concat([base, Buffer.from("/dir-\xc3(/\x01ctl", "latin1")]), "ctl\n");
  },
  times(dir) {
    writeFileSync(join(dir, "dated"), "dated\n");
    run("touch", ["-h", "-d", "@1700000000.123456789", "dated"], dir);
    symlinkSync("dated", join(dir, "dated-link"));
    lutimesSync(join(dir, "dated-link"), 1600000000, 1600000000);
  },
  large(dir) {
    const chunk = createHash("sha256").update("seed").digest();
    const buf = Buffer.alloc(6 << 20);
    for (let i = 0; i < buf.length; i += chunk.length)
      chunk.copy(buf, i, 0, Math.min(chunk.length, buf.length - i));
    writeFileSync(join(dir, "large.bin"), buf);
    writeFileSync(join(dir, "empty"), "");
  },
};

export function makeSpecialTree(dir: string, parts = Object.keys(SPECIAL_PARTS)): void {
  mkdirSync(dir, { recursive: true });
  for (const p of parts) SPECIAL_PARTS[p]!(dir);
}

/** getfattr's name escapes (\ooo) back to bytes, as a latin1 string. */
function unescapeName(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

function xattrsOf(dir: string): Map<string, string> {
  const out = execFileSync("getfattr", ["-R", "-h", "-d", "-m", "-", "-e", "hex", "."], {
    cwd: dir,
    maxBuffer: 64 << 20,
    env: { ...process.env, LC_ALL: "C" },
  }).toString("latin1");
  const map = new Map<string, string>();
  for (const block of out.split("\n\n")) {
    const lines = block.trim().split("\n");
    if (lines.length < 2 || !lines[0]!.startsWith("# file: ")) continue;
    const name = unescapeName(lines[0]!.slice(8)).replace(/^\.\/?/, "");
    map.set(name, lines.slice(1).map(unescape).sort().join(","));
  }
  return map;
}

/** One line per entry, sorted; names are written as JSON of their bytes (latin1). The root's own
 * metadata is included. */
export function strictListing(dir: string): string[] {
  const xattrs = xattrsOf(dir);
  const inodes = new Map<bigint, string[]>();
  const rows: { rel: string; ino: bigint; text: string }[] = [];
  const walk = (abs: Buffer, rel: string) => {
    const st = lstatSync(abs, { bigint: true });
    let extra = "";
    if (st.isFile()) {
      extra = createHash("sha256").update(readFileSync(abs)).digest("hex");
      inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), rel]);
    } else if (st.isSymbolicLink())
      extra = `-> ${readlinkSync(abs, { encoding: "buffer" }).toString("latin1")}`;
    else if (st.isCharacterDevice() || st.isBlockDevice()) extra = `rdev ${st.rdev}`;
    const type = st.isFile()
      ? "f"
      : st.isDirectory()
        ? "d"
        : st.isSymbolicLink()
          ? "l"
          : st.isCharacterDevice()
            ? "c"
            : st.isBlockDevice()
              ? "b"
              : st.isFIFO()
                ? "p"
                : "s";
    // A directory's size depends on the file system's history, not on the tree.
    const size = type === "d" ? "" : String(st.size);
    const mtime = String(st.mtimeNs);
    rows.push({
      rel,
      ino: st.ino,
      text: `${type} ${(Number(st.mode) & 0o7777).toString(8)} ${st.uid}:${st.gid} ${size} ${mtime} ${extra} xattr:${xattrs.get(rel) ?? ""}`,
    });
    if (st.isDirectory()) {
      const names = readdirSync(abs, { encoding: "buffer" }).sort(Buffer.compare);
      for (const name of names) {
        const child = Buffer.concat([abs, Buffer.from("/"), name]);
        walk(child, rel === "" ? name.toString("latin1") : `${rel}/${name.toString("latin1")}`);
      }
    }
  };
  walk(Buffer.from(dir), "");
  return rows
    .map((r) => {
      const group = inodes.get(r.ino);
      const link = group && group.length > 1 ? ` links:${JSON.stringify([...group].sort())}` : "";
      return `${JSON.stringify(r.rel)} ${r.text}${link}`;
    })
    .sort();
}
