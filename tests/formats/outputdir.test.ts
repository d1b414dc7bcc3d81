import { lstat, mkdir, readdir, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { copyTree, movePath, placeDirectory, replacePath } from "../../formats/directory.js";
import { buildOutputs, produceOutput, producerFor, producesOutput, REGISTRY } from "../../formats/index.js";
import { outputNames } from "../../formats/naming.js";
import { createOutputSymlink, finalizeStaging } from "../../formats/outputdir.js";
import { FormatError, type OutputConfig } from "../../formats/types.js";
import { isRoot, makeOddTree, sh, tempDir } from "./helpers.js";

let base: string;
let n = 0;
let dir: string;

beforeAll(async () => {
  base = await tempDir();
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});
beforeEach(async () => {
  dir = join(base, `case${n++}`);
  await mkdir(dir);
});

async function tree(path: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(path, name, ".."), { recursive: true });
    await writeFile(join(path, name), content);
  }
}

describe("directory placement", () => {
  it("copies a tree with cp -a (modes, owners, links, xattrs) and leaves the source", async () => {
    const src = join(dir, "root");
    await mkdir(src);
    await makeOddTree(src);
    const dest = join(dir, "image");
    await placeDirectory(src, dest);
    expect((await lstat(join(src, "usr/lib/os-release"))).isFile()).toBe(true);
    expect((await lstat(join(dest, "usr/lib/suid"))).mode & 0o7777).toBe(0o4755);
    expect(await readlink(join(dest, "etc/os-release"))).toBe("../usr/lib/os-release");
    expect((await lstat(join(dest, "usr/lib/hard-a"))).ino).toBe(
      (await lstat(join(dest, "usr/lib/hard-b"))).ino,
    );
    expect(sh(`getfattr --only-values -n user.mkosi ${join(dest, "usr/lib/xattr-file")}`)).toBe("hello");
    if (isRoot) expect((await lstat(join(dest, "var/lib/app/data"))).uid).toBe(1234);
    expect((await readdir(dir)).sort()).toEqual(["image", "root"]);
  });

  it("renames an owned tree instead of copying", async () => {
    const src = join(dir, "root");
    await tree(src, { "etc/a": "1" });
    const ino = (await stat(join(src, "etc/a"))).ino;
    await placeDirectory(src, join(dir, "image"), { move: true });
    await expect(lstat(src)).rejects.toThrow();
    expect((await stat(join(dir, "image/etc/a"))).ino).toBe(ino);
  });

  it("replaces a previous output only once the new one is complete", async () => {
    const dest = join(dir, "image");
    await tree(dest, { old: "old" });
    const src = join(dir, "root");
    await tree(src, { new: "new" });
    await placeDirectory(src, dest);
    expect(await readdir(dest)).toEqual(["new"]);
    expect((await readdir(dir)).sort()).toEqual(["image", "root"]);
  });

  it("keeps the previous output when the copy fails", async () => {
    const dest = join(dir, "image");
    await tree(dest, { old: "old" });
    await expect(placeDirectory(join(dir, "missing"), dest)).rejects.toThrow(FormatError);
    await expect(copyTree(join(dir, "missing"), join(dir, "x"))).rejects.toThrow(/cp/);
    expect(await readdir(dest)).toEqual(["old"]);
    expect((await readdir(dir)).sort()).toEqual(["image"]);
  });

  it("replacePath swaps files, trees and kinds; movePath moves", async () => {
    await writeFile(join(dir, "f-new"), "new");
    await writeFile(join(dir, "f"), "old");
    await replacePath(join(dir, "f-new"), join(dir, "f"));
    expect(await readFile(join(dir, "f"), "utf8")).toBe("new");
    // a file over a directory, a directory over a file
    await tree(join(dir, "d"), { x: "1" });
    await writeFile(join(dir, "g"), "file");
    await replacePath(join(dir, "g"), join(dir, "d"));
    expect(await readFile(join(dir, "d"), "utf8")).toBe("file");
    await tree(join(dir, "t"), { y: "2" });
    await replacePath(join(dir, "t"), join(dir, "d"));
    expect(await readdir(join(dir, "d"))).toEqual(["y"]);
    await movePath(join(dir, "d"), join(dir, "moved"));
    expect(await readdir(join(dir, "moved"))).toEqual(["y"]);
    expect((await readdir(dir)).sort()).toEqual(["f", "moved"]);
  });
});

describe("output symlink", () => {
  it("points <Output> at the compressed output when absent or already a symlink", async () => {
    const names = outputNames({ Format: "tar", Output: "img", CompressOutput: "zstd" });
    expect(await createOutputSymlink(dir, names)).toBe(true);
    expect(await readlink(join(dir, "img"))).toBe("img.tar.zst");
    // an old symlink is replaced
    const xz = outputNames({ Format: "tar", Output: "img", CompressOutput: "xz" });
    expect(await createOutputSymlink(dir, xz)).toBe(true);
    expect(await readlink(join(dir, "img"))).toBe("img.tar.xz");
  });

  it("never replaces a real file or directory, and does nothing for Format=directory", async () => {
    await writeFile(join(dir, "img"), "user data");
    expect(await createOutputSymlink(dir, outputNames({ Format: "tar", Output: "img" }))).toBe(false);
    expect(await readFile(join(dir, "img"), "utf8")).toBe("user data");
    expect(await createOutputSymlink(dir, outputNames({ Format: "directory", Output: "tree" }))).toBe(false);
    await expect(lstat(join(dir, "tree"))).rejects.toThrow();
  });
});

describe("finalizeStaging", () => {
  const cfg: OutputConfig = { Format: "tar", Output: "img", CompressOutput: "zstd" };

  it("moves outputs in, applies OutputMode= to files, keeps symlinks, replaces previous outputs", async () => {
    const staging = join(dir, "staging");
    const out = join(dir, "out");
    await tree(staging, {
      "img.tar.zst": "new archive",
      "img.SHA256SUMS": "sums",
      "img.repart.d/00-esp.conf": "[Partition]",
    });
    await symlink("img.tar.zst", join(staging, "img"));
    await tree(out, {
      "img.tar.zst": "old archive",
      "img.manifest": "old manifest",
      "unrelated.txt": "mine",
    });
    const moved = await finalizeStaging(staging, out, outputNames(cfg), { outputMode: 0o600 });
    expect(moved.sort()).toEqual(["img", "img.SHA256SUMS", "img.repart.d", "img.tar.zst"]);
    expect(await readFile(join(out, "img.tar.zst"), "utf8")).toBe("new archive");
    expect((await stat(join(out, "img.tar.zst"))).mode & 0o777).toBe(0o600);
    expect((await stat(join(out, "img.SHA256SUMS"))).mode & 0o777).toBe(0o600);
    expect(await readlink(join(out, "img"))).toBe("img.tar.zst");
    expect(await readFile(join(out, "img.repart.d/00-esp.conf"), "utf8")).toBe("[Partition]");
    // untouched: outputs of a previous build not produced now, and the user's files
    expect(await readFile(join(out, "img.manifest"), "utf8")).toBe("old manifest");
    expect(await readFile(join(out, "unrelated.txt"), "utf8")).toBe("mine");
    expect(await readdir(staging)).toEqual([]);
    // no temporary leftovers
    expect((await readdir(out)).filter((f) => f.startsWith("."))).toEqual([]);
  });

  it("creates the output directory, and leaves modes alone without OutputMode=", async () => {
    const staging = join(dir, "staging");
    await tree(staging, { "img.tar.zst": "a" });
    sh(`chmod 0640 ${join(staging, "img.tar.zst")}`);
    const out = join(dir, "deep/out");
    await finalizeStaging(staging, out, outputNames(cfg));
    expect((await stat(join(out, "img.tar.zst"))).mode & 0o777).toBe(0o640);
  });

  it("never overwrites a user's non-output file; nothing moves when one would be", async () => {
    const staging = join(dir, "staging");
    const out = join(dir, "out");
    await tree(staging, { "img.tar.zst": "new", "notes.txt": "from a post-output script" });
    await tree(out, { "img.tar.zst": "old", "notes.txt": "the user's notes" });
    await expect(finalizeStaging(staging, out, outputNames(cfg))).rejects.toThrow(
      /Refusing to overwrite .*notes\.txt/,
    );
    expect(await readFile(join(out, "notes.txt"), "utf8")).toBe("the user's notes");
    expect(await readFile(join(out, "img.tar.zst"), "utf8")).toBe("old");
    // a new non-output name that does not exist yet is fine, and alsoReplace can allow more
    await expect(
      finalizeStaging(staging, out, outputNames(cfg), { alsoReplace: (name) => name === "notes.txt" }),
    ).resolves.toBeDefined();
    expect(await readFile(join(out, "notes.txt"), "utf8")).toBe("from a post-output script");
  });

  it("replaces a non-output name only where mayReplace says it published it", async () => {
    const staging = join(dir, "staging");
    const out = join(dir, "out");
    await tree(staging, { "img.tar.zst": "new", "notes.txt": "from this build's post-output script" });
    await tree(out, { "img.tar.zst": "old", "notes.txt": "from the last build's post-output script" });
    await expect(
      finalizeStaging(staging, out, outputNames(cfg), { mayReplace: async (name) => name !== "notes.txt" }),
    ).rejects.toThrow(/Refusing to overwrite .*notes\.txt/);
    expect(await readFile(join(out, "notes.txt"), "utf8")).toBe("from the last build's post-output script");
    await finalizeStaging(staging, out, outputNames(cfg), { mayReplace: async () => true });
    expect(await readFile(join(out, "notes.txt"), "utf8")).toBe("from this build's post-output script");
    expect(await readFile(join(out, "img.tar.zst"), "utf8")).toBe("new");
  });

  it("replaces a previous directory output with a symlink (format changed from directory to tar)", async () => {
    const staging = join(dir, "staging");
    const out = join(dir, "out");
    await tree(staging, { "img.tar.zst": "archive" });
    await symlink("img.tar.zst", join(staging, "img"));
    await tree(out, { "img/etc/os-release": "ID=old" });
    await finalizeStaging(staging, out, outputNames(cfg));
    expect(await readlink(join(out, "img"))).toBe("img.tar.zst");
  });

  it("rejects an invalid OutputMode=", async () => {
    const staging = join(dir, "staging");
    await tree(staging, { "img.tar.zst": "a" });
    await expect(
      finalizeStaging(staging, join(dir, "o"), outputNames(cfg), { outputMode: 0o17777 }),
    ).rejects.toThrow(/OutputMode/);
  });
});

describe("registry", () => {
  it("maps every format to its producer or to the pipeline's steps", async () => {
    for (const f of ["directory", "tar", "cpio", "none", "oci"])
      expect(typeof (await producerFor(f))).toBe("function");
    // Made by the pipeline's steps (repart, uki, addon), not by a producer of the finished root.
    for (const f of ["disk", "uki", "esp", "sysext", "confext", "portable", "addon"])
      await expect(producerFor(f)).rejects.toThrow(`Format=${f} is made by the pipeline's steps`);
    expect(Object.keys(REGISTRY)).toHaveLength(12);
    for (const [name, descriptor] of Object.entries(REGISTRY)) expect(descriptor.name).toBe(name);
    await expect(producerFor("iso")).rejects.toThrow(/Unknown Format=iso/);
    expect(producesOutput("none")).toBe(false);
    expect(producesOutput("tar")).toBe(true);
  });

  it("Format=none produces nothing", async () => {
    const staging = join(dir, "staging");
    await mkdir(staging);
    const r = await buildOutputs({ root: dir, staging, config: { Format: "none", Checksum: true } });
    expect(r).toEqual({ main: undefined, files: [] });
    expect(await readdir(staging)).toEqual([]);
  });

  it("produceOutput writes the main output under its final name", async () => {
    const root = join(dir, "root");
    await tree(root, { "usr/lib/os-release": "ID=x\n" });
    const staging = join(dir, "staging");
    await mkdir(staging);
    for (const [cfg, name] of [
      [{ Format: "tar", Output: "a", CompressOutput: "xz" }, "a.tar.xz"],
      [{ Format: "cpio", Output: "b", CompressOutput: "none" }, "b.cpio"],
      [{ Format: "directory", Output: "c", CompressOutput: "zstd" }, "c"],
    ] as const) {
      const r = await produceOutput({ root, staging, config: cfg });
      expect(r.main).toBe(name);
      await expect(lstat(join(staging, name))).resolves.toBeDefined();
    }
    expect(await readFile(join(staging, "c/usr/lib/os-release"), "utf8")).toBe("ID=x\n");
    await expect(produceOutput({ root, staging, config: { Format: "addon" } })).rejects.toThrow(
      "Format=addon is made by the pipeline's steps",
    );
  });

  it("buildOutputs runs the whole tail: split tar, nspawn, output, sums, manifest, symlink", async () => {
    const root = join(dir, "root");
    await tree(root, { "usr/lib/os-release": "ID=x\n", "etc/hostname": "h\n" });
    const staging = join(dir, "staging");
    await mkdir(staging);
    const settings = join(dir, "mkosi.nspawn");
    await writeFile(settings, "[Exec]\nBoot=yes\n");
    const r = await buildOutputs({
      root,
      staging,
      ownsRoot: true,
      config: {
        Format: "directory",
        ImageId: "os",
        ImageVersion: "3",
        CompressOutput: "zstd",
        SplitArtifacts: ["tar"],
        NSpawnSettings: settings,
        Checksum: true,
        ManifestFormat: ["json"],
        Distribution: "debian",
        Release: "bookworm",
        Architecture: "x86-64",
        SourceDateEpoch: 1_700_000_000,
      },
      packages: [{ name: "bash", version: "5", architecture: "amd64", size: 1024 }],
    });
    expect(r.main).toBe("os_3");
    expect(r.files).toEqual(["os_3.tar.zst", "os_3.nspawn", "os_3", "os_3.SHA256SUMS", "os_3.manifest"]);
    await expect(lstat(root)).rejects.toThrow(); // owned root was renamed
    const sums = await readFile(join(staging, "os_3.SHA256SUMS"), "utf8");
    expect(sums).toContain("*os_3.tar.zst");
    expect(sums).toContain("*os_3.nspawn");
    expect(sums).not.toContain("*os_3\n"); // the directory output is skipped
    expect(sh("sha256sum -c os_3.SHA256SUMS", { cwd: staging })).toContain("os_3.nspawn: OK");
    expect(sh(`zstd -dc ${join(staging, "os_3.tar.zst")} | tar -tf -`)).toContain("./etc/hostname");

    // tar: the symlink appears, the checksums exclude it
    const staging2 = join(dir, "staging2");
    await mkdir(staging2);
    const root2 = join(dir, "root2");
    await tree(root2, { "etc/hostname": "h\n" });
    const r2 = await buildOutputs({
      root: root2,
      staging: staging2,
      config: { Format: "tar", Output: "t", CompressOutput: "zstd", Checksum: true },
    });
    expect(r2.files).toEqual(["t.tar.zst", "t.SHA256SUMS", "t"]);
    expect(await readlink(join(staging2, "t"))).toBe("t.tar.zst");
    expect(await readFile(join(staging2, "t.SHA256SUMS"), "utf8")).toMatch(/^[0-9a-f]{64} \*t\.tar\.zst\n$/);
    await expect(lstat(join(root2, "etc/hostname"))).resolves.toBeDefined(); // not owned: untouched
  });

  it("a format the pipeline's steps make fails here before writing anything", async () => {
    const staging = join(dir, "staging");
    await mkdir(staging);
    const settings = join(dir, "mkosi.nspawn");
    await writeFile(settings, "");
    await expect(
      buildOutputs({
        root: dir,
        staging,
        config: { Format: "addon", NSpawnSettings: settings, Checksum: true },
      }),
    ).rejects.toThrow("Format=addon is made by the pipeline's steps");
    expect(await readdir(staging)).toEqual([]);
  });
});
