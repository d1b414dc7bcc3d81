// Test helpers: a small root tree with every odd kind of entry, and commands run synchronously.
import { execFileSync } from "node:child_process";
import { chmod, chown, link, mkdir, mkdtemp, symlink, truncate, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const isRoot = process.getuid?.() === 0;

export function sh(
  cmd: string,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer } = {},
): string {
  return execFileSync("sh", ["-c", cmd], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    input: opts.input,
    encoding: "utf8",
    stdio: ["pipe", "pipe", "pipe"],
    maxBuffer: 64 * 1024 * 1024,
  });
}

export async function tempDir(prefix = "mkosi-formats-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * Creates an odd root tree at `root`: regular files, a symlink, a dangling symlink, a hardlink pair, a
 * setuid file, a fifo, a char device, xattrs, files owned by other uids, a deep directory, unicode and
 * space names, a sparse file, and content in the runtime directories (dev, proc, tmp, run, var/tmp) that
 * archives must leave out (tar) or keep (cpio). Device nodes and chown need root.
 */
export async function makeOddTree(root: string, opts: { mtime?: number } = {}): Promise<void> {
  await mkdir(join(root, "usr/lib"), { recursive: true });
  await mkdir(join(root, "etc"), { recursive: true });
  await writeFile(join(root, "usr/lib/os-release"), "ID=test\nVERSION_ID=1\n");
  await writeFile(join(root, "etc/hostname"), "box\n");
  await symlink("../usr/lib/os-release", join(root, "etc/os-release"));
  await symlink("/nowhere/at/all", join(root, "etc/dangling"));
  await writeFile(join(root, "usr/lib/hard-a"), "linked content\n");
  await link(join(root, "usr/lib/hard-a"), join(root, "usr/lib/hard-b"));
  await writeFile(join(root, "usr/lib/suid"), "#!/bin/sh\n");
  await chmod(join(root, "usr/lib/suid"), 0o4755);
  await writeFile(join(root, "usr/lib/private"), "secret\n");
  await chmod(join(root, "usr/lib/private"), 0o600);
  sh(`mkfifo ${JSON.stringify(join(root, "usr/lib/fifo"))}`);
  let deep = root;
  for (const part of ["a", "b", "c", "d", "e", "f", "g", "h"]) deep = join(deep, part);
  await mkdir(deep, { recursive: true });
  await writeFile(join(deep, "leaf.txt"), "deep\n");
  await writeFile(join(root, "usr/lib/ünïcödé ☃ name.txt"), "unicode\n");
  await writeFile(join(root, "usr/lib/emoji-😀"), "astral\n");
  await writeFile(join(root, "usr/lib/with space"), "space\n");
  await writeFile(join(root, "usr/lib/sparse"), "");
  await truncate(join(root, "usr/lib/sparse"), 4 * 1024 * 1024);
  await writeFile(join(root, "usr/lib/xattr-file"), "xattrs\n");
  sh(`setfattr -n user.mkosi -v hello ${JSON.stringify(join(root, "usr/lib/xattr-file"))}`);
  for (const d of ["dev", "proc", "sys", "tmp", "run", "var/tmp"]) {
    await mkdir(join(root, d), { recursive: true });
  }
  await writeFile(join(root, "tmp/junk"), "junk\n");
  await writeFile(join(root, "var/tmp/junk"), "junk\n");
  await writeFile(join(root, "run/junk"), "junk\n");
  await mkdir(join(root, "var/lib/app"), { recursive: true });
  await writeFile(join(root, "var/lib/app/data"), "data\n");
  if (isRoot) {
    sh(`mknod ${JSON.stringify(join(root, "dev/null"))} c 1 3`);
    sh(`mknod ${JSON.stringify(join(root, "usr/lib/chardev"))} c 1 5`);
    await chown(join(root, "var/lib/app"), 1234, 4321);
    await chown(join(root, "var/lib/app/data"), 1234, 4321);
    await chown(join(root, "usr/lib/private"), 65534, 65534);
  }
  if (opts.mtime !== undefined) {
    // Make everything newer than the epoch: clamping has real work to do.
    sh(`find . -exec touch -h -d @${opts.mtime} {} +`, { cwd: root });
  }
}

/** Sets a file's times (seconds). */
export async function setTimes(path: string, seconds: number): Promise<void> {
  await utimes(path, seconds, seconds);
}
