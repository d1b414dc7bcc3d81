import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compressFile, compressorCommand, decompressorCommand, gzipBinary } from "../../formats/compress.js";
import { makeCpio } from "../../formats/cpio.js";
import { makeTar } from "../../formats/tar.js";
import { FormatError } from "../../formats/types.js";
import { sh, tempDir } from "./helpers.js";

let base: string;
let root: string;

beforeAll(async () => {
  base = await tempDir();
  root = join(base, "root");
  await mkdir(join(root, "usr/share"), { recursive: true });
  // compressible but not trivial content, so levels make a difference
  const lines: string[] = [];
  for (let i = 0; i < 40000; i++)
    lines.push(`line ${i} ${(i * 2654435761) % 1000003} ${"abcdefghij".repeat(i % 7)}`);
  await writeFile(join(root, "usr/share/data.txt"), lines.join("\n"));
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe("compressor commands", () => {
  it("match upstream", () => {
    expect(compressorCommand("zstd", 3)).toEqual(["zstd", "-q", "-3", "-T0", "--stdout", "-"]);
    expect(compressorCommand("xz", 6)).toEqual(["xz", "--check=crc32", "-6", "-T0", "--stdout", "-"]);
    expect(compressorCommand("gz", 9)).toEqual([gzipBinary(), "--no-name", "-9", "--stdout", "-"]);
    expect(compressorCommand("zstd")).toContain("-3");
    expect(compressorCommand("zstd", null)).toContain("-3");
    expect(compressorCommand("none", 3)).toBeUndefined();
    expect(compressorCommand(false)).toBeUndefined();
    expect(gzipBinary({ PATH: "/nonexistent" })).toBe("gzip");
  });

  it.each(["bz2", "lz4", "lzma"])("refuses %s like upstream (Unknown compression)", (c) => {
    expect(() => compressorCommand(c, 3)).toThrow(FormatError);
    expect(() => compressorCommand(c, 3)).toThrow(`Unknown compression ${c}`);
  });

  it("rejects a non-integer level", () => {
    expect(() => compressorCommand("zstd", 1.5)).toThrow(/CompressLevel/);
  });
});

describe("compressed archives", () => {
  it.each([
    ["zstd", "zstd -dc", "\x28\xb5\x2f\xfd"],
    ["xz", "xz -dc", "\xfd7zXZ"],
    ["gz", "gzip -dc", "\x1f\x8b"],
  ])("tar through %s decompresses to a valid archive", async (c, dec, magic) => {
    const out = join(base, `t.tar.${c}`);
    await makeTar(root, out, { compression: c });
    const head = (await readFile(out)).subarray(0, magic.length);
    expect(head.equals(Buffer.from(magic, "latin1"))).toBe(true);
    expect(sh(`${dec} ${out} | tar -tf -`)).toContain("./usr/share/data.txt");
    expect(decompressorCommand(c)).toBeDefined();
  });

  it("cpio through xz decompresses to a valid archive", async () => {
    const out = join(base, "c.cpio.xz");
    await makeCpio(root, out, { compression: "xz", level: 1 });
    expect(sh(`xz -dc ${out} | cpio -it --quiet`)).toContain("usr/share/data.txt");
  });

  it("CompressLevel changes the result (zstd 1 vs 19, xz 0 vs 9, gz 1 vs 9)", async () => {
    for (const [c, lo, hi] of [
      ["zstd", 1, 19],
      ["xz", 0, 9],
      ["gz", 1, 9],
    ] as const) {
      const a = join(base, `lvl-${c}-${lo}`);
      const b = join(base, `lvl-${c}-${hi}`);
      await makeTar(root, a, { compression: c, level: lo, sourceDateEpoch: 1 });
      await makeTar(root, b, { compression: c, level: hi, sourceDateEpoch: 1 });
      expect((await stat(b)).size).toBeLessThan((await stat(a)).size);
    }
  });

  it("gzip output carries no name or timestamp (two runs identical)", async () => {
    const a = join(base, "g1.tar.gz");
    const b = join(base, "g2.tar.gz");
    await makeTar(root, a, { compression: "gz", sourceDateEpoch: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    await makeTar(root, b, { compression: "gz", sourceDateEpoch: 1 });
    expect((await readFile(a)).equals(await readFile(b))).toBe(true);
  });

  it("refuses bz2 before writing anything", async () => {
    const out = join(base, "t.tar.bz2");
    await expect(makeTar(root, out, { compression: "bz2" })).rejects.toThrow("Unknown compression bz2");
    await expect(stat(out)).rejects.toThrow();
  });
});

describe("compressFile", () => {
  it("compresses a file in place of another name and removes the source", async () => {
    const src = join(base, "disk.raw");
    await writeFile(src, Buffer.alloc(1 << 20, 7));
    await compressFile(src, `${src}.zst`, "zstd", { level: 3 });
    await expect(stat(src)).rejects.toThrow();
    expect(sh(`zstd -dc ${src}.zst | wc -c`).trim()).toBe(String(1 << 20));
  });

  it("renames when there is no compression, and can compress onto itself", async () => {
    const src = join(base, "plain.raw");
    await writeFile(src, "abc");
    await compressFile(src, join(base, "plain2.raw"), "none");
    expect(await readFile(join(base, "plain2.raw"), "utf8")).toBe("abc");
    const same = join(base, "same.raw");
    await writeFile(same, "hello world");
    await compressFile(same, same, "xz");
    expect(sh(`xz -dc < ${same}`)).toBe("hello world");
  });

  it("fails with the tool's message and keeps the source", async () => {
    const src = join(base, "keep.raw");
    await writeFile(src, "abc");
    await expect(compressFile(src, `${src}.zst`, "zstd", { env: { PATH: "/nonexistent" } })).rejects.toThrow(
      /zstd not found/,
    );
    expect(await readFile(src, "utf8")).toBe("abc");
    await expect(stat(`${src}.zst`)).rejects.toThrow();
  });
});

describe("cancellation", () => {
  it("an aborted archive run kills the pipeline and leaves no file", async () => {
    const big = join(base, "big");
    await mkdir(big);
    await writeFile(join(big, "blob"), Buffer.alloc(64 << 20, 3));
    const out = join(base, "big.tar.xz");
    const ac = new AbortController();
    const started = Date.now();
    const p = makeTar(big, out, { compression: "xz", level: 9, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await expect(p).rejects.toThrow(/cancelled/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(sh(`ls -a ${base}`)).not.toMatch(/big\.tar/);
    const pre = new AbortController();
    pre.abort();
    await expect(makeTar(big, out, { signal: pre.signal })).rejects.toThrow(/cancelled/);
  });
});
