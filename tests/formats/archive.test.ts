import { createHash } from "node:crypto";
import { lstat, mkdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { comparePaths, listTree, makeCpio } from "../../formats/cpio.js";
import { makeTar, tarCreateCommand } from "../../formats/tar.js";
import { FormatError } from "../../formats/types.js";
import { isRoot, makeOddTree, sh, tempDir } from "./helpers.js";

const EPOCH = 1_700_000_000;

async function sha256(path: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
}

let base: string;
let root: string;

beforeAll(async () => {
  base = await tempDir();
  root = join(base, "root");
  await mkdir(root);
  await makeOddTree(root);
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** Checks the extracted tree `x` against the odd tree. */
async function expectSameTree(x: string, opts: { runtimeContents: boolean }): Promise<void> {
  expect(await readFile(join(x, "usr/lib/os-release"), "utf8")).toBe("ID=test\nVERSION_ID=1\n");
  expect(await readlink(join(x, "etc/os-release"))).toBe("../usr/lib/os-release");
  expect(await readlink(join(x, "etc/dangling"))).toBe("/nowhere/at/all");
  const a = await lstat(join(x, "usr/lib/hard-a"));
  const b = await lstat(join(x, "usr/lib/hard-b"));
  expect(a.ino).toBe(b.ino);
  expect(a.nlink).toBe(2);
  expect(await readFile(join(x, "usr/lib/hard-b"), "utf8")).toBe("linked content\n");
  expect((await lstat(join(x, "usr/lib/suid"))).mode & 0o7777).toBe(0o4755);
  expect((await lstat(join(x, "usr/lib/private"))).mode & 0o7777).toBe(0o600);
  expect((await lstat(join(x, "usr/lib/fifo"))).isFIFO()).toBe(true);
  expect(await readFile(join(x, "a/b/c/d/e/f/g/h/leaf.txt"), "utf8")).toBe("deep\n");
  expect(await readFile(join(x, "usr/lib/ünïcödé ☃ name.txt"), "utf8")).toBe("unicode\n");
  expect(await readFile(join(x, "usr/lib/emoji-😀"), "utf8")).toBe("astral\n");
  expect(await readFile(join(x, "usr/lib/with space"), "utf8")).toBe("space\n");
  const sparse = await lstat(join(x, "usr/lib/sparse"));
  expect(sparse.size).toBe(4 * 1024 * 1024);
  for (const d of ["dev", "proc", "sys", "tmp", "run", "var/tmp"]) {
    expect((await lstat(join(x, d))).isDirectory()).toBe(true);
  }
  const junk = await lstat(join(x, "tmp/junk")).catch(() => undefined);
  expect(junk !== undefined).toBe(opts.runtimeContents);
  expect((await lstat(join(x, "run/junk")).catch(() => undefined)) !== undefined).toBe(opts.runtimeContents);
  if (isRoot) {
    const chr = await lstat(join(x, "usr/lib/chardev"));
    expect(chr.isCharacterDevice()).toBe(true);
    expect(chr.rdev).toBe((await lstat(join(root, "usr/lib/chardev"))).rdev);
    const app = await lstat(join(x, "var/lib/app/data"));
    expect([app.uid, app.gid]).toEqual([1234, 4321]);
    const priv = await lstat(join(x, "usr/lib/private"));
    expect([priv.uid, priv.gid]).toEqual([65534, 65534]);
    expect((await lstat(join(x, "dev/null")).catch(() => undefined)) !== undefined).toBe(
      opts.runtimeContents,
    );
  }
}

describe("tar", () => {
  it("builds the documented command line", () => {
    const cmd = tarCreateCommand("/r", { sourceDateEpoch: 5, ownerRoot: true });
    expect(cmd.slice(0, 6)).toEqual(["tar", "--create", "--file", "-", "--directory", "/r"]);
    for (const flag of [
      "--acls",
      "--selinux",
      "--xattrs",
      "--pax-option=delete=atime,delete=ctime,delete=mtime",
      "--force-local",
      "--sort=name",
      "--numeric-owner",
      "--owner=root:0",
      "--group=root:0",
      "--mtime=@5",
      "--clamp-mtime",
    ]) {
      expect(cmd).toContain(flag);
    }
    expect(cmd.join(" ")).toContain(
      "--exclude ./dev/* --exclude ./proc/* --exclude ./sys/* --exclude ./tmp/*",
    );
    expect(cmd.join(" ")).toContain("--exclude ./run/* --exclude ./var/tmp/*");
    expect(cmd.at(-1)).toBe(".");
    expect(cmd).not.toContain("--sparse");
    expect(tarCreateCommand("/r", {})).toContain("--sparse");
    expect(tarCreateCommand("/r", { ownerRoot: false })).not.toContain("--owner=root:0");
    expect(tarCreateCommand("/r", { excludeRuntimeDirs: false }).join(" ")).not.toContain("--exclude");
    expect(() => tarCreateCommand("/r", { sourceDateEpoch: -1 })).toThrow(FormatError);
  });

  it("archives every kind of entry sorted, with owners, modes, xattrs; runtime dirs emptied", async () => {
    const out = join(base, "plain.tar");
    await makeTar(root, out, {});
    const listing = sh(`tar -tf ${out}`).trim().split("\n");
    expect(listing[0]).toBe("./");
    // --sort=name: within each directory, names come in byte order
    const names = listing.map((l) => l.replace(/\/$/, "").replace(/^\.\//, "")).filter((l) => l !== ".");
    const sorted = [...names].sort((x, y) => comparePaths(Buffer.from(x), Buffer.from(y)));
    expect(names).toEqual(sorted);
    expect(listing).toContain("./tmp/");
    expect(listing).toContain("./var/tmp/");
    expect(listing).not.toContain("./tmp/junk");
    expect(listing).not.toContain("./run/junk");
    expect(listing).not.toContain("./var/tmp/junk");
    expect(listing).not.toContain("./dev/null");
    const verbose = sh(`tar --numeric-owner -tvf ${out}`);
    expect(verbose).toMatch(/-rwsr-xr-x 0\/0 .* \.\/usr\/lib\/suid/);
    expect(verbose).toMatch(/hrw-r--r-- 0\/0 .* \.\/usr\/lib\/hard-b link to \.\/usr\/lib\/hard-a/);
    expect(verbose).toMatch(/prw-r--r-- .* \.\/usr\/lib\/fifo/);
    if (isRoot) {
      expect(verbose).toMatch(/-rw-r--r-- 1234\/4321 .* \.\/var\/lib\/app\/data/);
      expect(verbose).toMatch(/crw-r--r-- 0\/0 +1,5 .* \.\/usr\/lib\/chardev/);
    }
    // no user or group names from the host's passwd
    expect(sh(`tar -tvf ${out}`)).not.toMatch(/ root\/root /);

    const x = join(base, "x-tar");
    await mkdir(x);
    sh(`tar -xpf ${out} --xattrs --xattrs-include='*' --acls --numeric-owner -C ${x}`);
    await expectSameTree(x, { runtimeContents: false });
    expect(sh(`getfattr --only-values -n user.mkosi ${join(x, "usr/lib/xattr-file")}`)).toBe("hello");
  });

  it("stores everything as 0:0 with ownerRoot", async () => {
    const out = join(base, "owned.tar");
    await makeTar(root, out, { ownerRoot: true });
    const verbose = sh(`tar --numeric-owner -tvf ${out}`);
    expect(verbose).toMatch(/-rw-r--r-- 0\/0 .* \.\/var\/lib\/app\/data/);
    expect(verbose).not.toMatch(/1234/);
  });

  it("fails clearly on a missing root, leaving no file behind", async () => {
    const out = join(base, "missing.tar");
    await expect(makeTar(join(base, "nope"), out)).rejects.toThrow(/not a directory/);
    await expect(lstat(out)).rejects.toThrow();
  });

  it("reports tar's failure with its stderr and leaves no partial file", async () => {
    const out = join(base, "unreadable.tar.zst");
    const odd = join(base, "odd-root");
    await mkdir(join(odd, "sub"), { recursive: true });
    await writeFile(join(odd, "sub/f"), "x");
    // A command that does not exist in the pipeline: simulate by an env without PATH for the compressor.
    await expect(makeTar(odd, out, { compression: "zstd", env: { PATH: "/nonexistent" } })).rejects.toThrow(
      /not found/,
    );
    expect(sh(`ls -a ${base}`)).not.toMatch(/unreadable/);
  });
});

describe("cpio", () => {
  it("lists the tree in upstream's sorted order", async () => {
    const list = (await listTree(root)).map((b) => b.toString());
    expect(list).toContain("usr/lib/emoji-😀");
    expect(list.indexOf("usr")).toBeLessThan(list.indexOf("usr/lib"));
    // component-wise: "a/b" before "a.b" would not hold for plain string sort of "a-x" vs "a/..."
    expect(comparePaths(Buffer.from("a/z"), Buffer.from("a-b"))).toBeLessThan(0);
    expect(comparePaths(Buffer.from("a"), Buffer.from("a/b"))).toBeLessThan(0);
    expect(comparePaths(Buffer.from("a/b"), Buffer.from("a/b"))).toBe(0);
    const sorted = [...list].sort((x, y) => comparePaths(Buffer.from(x), Buffer.from(y)));
    expect(list).toEqual(sorted);
  });

  it("archives every kind of entry (newc), runtime dirs included as upstream", async () => {
    const out = join(base, "plain.cpio");
    await makeCpio(root, out, {});
    expect((await readFile(out)).subarray(0, 6).toString()).toBe("070701");
    const verbose = sh(`cpio -itv --numeric-uid-gid < ${out} 2>/dev/null`);
    expect(verbose).toMatch(/-rwsr-xr-x +\d+ 0 +0 .* usr\/lib\/suid/);
    expect(verbose).toMatch(/prw-r--r-- .* usr\/lib\/fifo/);
    expect(verbose).toMatch(/lrwxrwxrwx .* etc\/os-release -> \.\.\/usr\/lib\/os-release/);
    if (isRoot) expect(verbose).toMatch(/-rw-r--r-- +1 1234 +4321 .* var\/lib\/app\/data/);
    const x = join(base, "x-cpio");
    await mkdir(x);
    sh(`cpio -idm --quiet --no-absolute-filenames < ${out}`, { cwd: x });
    await expectSameTree(x, { runtimeContents: true });
  });

  it("stores 0:0 with ownerRoot and archives only the given files", async () => {
    const out = join(base, "some.cpio");
    await makeCpio(root, out, {
      ownerRoot: true,
      files: ["var/lib/app/data", "var", "var/lib", "var/lib/app"],
    });
    const listing = sh(`cpio -itv --numeric-uid-gid < ${out} 2>/dev/null`).trim().split("\n");
    expect(listing.map((l) => l.split(" ").at(-1))).toEqual([
      "var",
      "var/lib",
      "var/lib/app",
      "var/lib/app/data",
    ]);
    expect(listing.join("\n")).not.toMatch(/1234/);
  });
});

describe("reproducibility", () => {
  it("two trees built at different times give byte-identical tar.zst and cpio.zst with a SourceDateEpoch", async () => {
    const r1 = join(base, "repro1");
    const r2 = join(base, "repro2");
    await mkdir(r1);
    await makeOddTree(r1, { mtime: EPOCH + 1000 });
    // second tree: different creation order of a directory's entries and later times
    await mkdir(join(r2, "usr/lib"), { recursive: true });
    await writeFile(join(r2, "usr/lib/zzz-created-first"), "z\n");
    await makeOddTree(r2, { mtime: EPOCH + 999_999 });
    await writeFile(join(r1, "usr/lib/zzz-created-first"), "z\n");
    sh(`touch -d @${EPOCH + 5000} ${join(r1, "usr/lib/zzz-created-first")} ${join(r1, "usr/lib")}`);
    sh(`touch -a -d @${EPOCH + 77} ${join(r2, "etc/hostname")}`);

    const digests: Record<string, string[]> = { tar: [], cpio: [] };
    for (const [i, r] of [r1, r2].entries()) {
      const t = join(base, `repro${i}.tar.zst`);
      const c = join(base, `repro${i}.cpio.zst`);
      await makeTar(r, t, { compression: "zstd", sourceDateEpoch: EPOCH });
      await makeCpio(r, c, { compression: "zstd", sourceDateEpoch: EPOCH });
      digests.tar!.push(await sha256(t));
      digests.cpio!.push(await sha256(c));
    }
    expect(digests.tar![0]).toBe(digests.tar![1]);
    expect(digests.cpio![0]).toBe(digests.cpio![1]);
    // and the clamped time is what is stored
    const v = sh(`zstd -dc ${join(base, "repro0.tar.zst")} | tar --full-time --numeric-owner -tvf -`);
    expect(v).toContain("2023-11-14 22:13:20 ./etc/hostname");
  });

  it("without a SourceDateEpoch, trees with different mtimes differ (times are kept)", async () => {
    const r1 = join(base, "nore1");
    const r2 = join(base, "nore2");
    for (const [r, t] of [
      [r1, EPOCH],
      [r2, EPOCH + 60],
    ] as const) {
      await mkdir(r);
      await writeFile(join(r, "f"), "same\n");
      sh(`touch -d @${t} ${join(r, "f")} ${r}`);
    }
    await makeTar(r1, join(base, "nore1.tar"));
    await makeTar(r2, join(base, "nore2.tar"));
    expect(await sha256(join(base, "nore1.tar"))).not.toBe(await sha256(join(base, "nore2.tar")));
  });
});
