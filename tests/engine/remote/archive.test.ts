// An artifact survives the tar + zstd round trip whole: each kind of thing a layer holds, checked on its
// own, and the blob is reproducible (the same tree packs to the same bytes, wherever it lives).
import { execFileSync } from "node:child_process";
import { createReadStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packTree, unpackTree } from "../../../engine/remote/archive.js";
import { makeSpecialTree, SPECIAL_PARTS, strictListing } from "../../helpers/special-tree.js";
import { cleanup, tempDir } from "../helpers.js";

let root: string;
beforeAll(async () => {
  root = await tempDir("mkosi-remote-archive-");
});
afterAll(async () => {
  await cleanup(root);
});

async function roundTrip(src: string, name: string): Promise<{ dst: string; digest: string }> {
  const blob = join(root, `${name}.tar.zst`);
  const packed = await packTree(src, blob);
  const dst = join(root, `${name}-out`);
  mkdirSync(dst);
  const unpack = unpackTree(dst);
  await Promise.all([pipeline(createReadStream(blob), unpack.input), unpack.done]);
  return { dst, digest: packed.digest };
}

describe("artifact archive round trip", () => {
  for (const part of Object.keys(SPECIAL_PARTS)) {
    it(`keeps ${part}`, async () => {
      const src = join(root, `src-${part}`);
      makeSpecialTree(src, [part]);
      const { dst } = await roundTrip(src, part);
      const before = strictListing(src);
      expect(before.length).toBeGreaterThan(1);
      expect(strictListing(dst)).toEqual(before);
    });
  }

  it("keeps everything at once, and packs the same tree to the same bytes", async () => {
    const src = join(root, "src-all");
    makeSpecialTree(src);
    const first = await roundTrip(src, "all-1");
    expect(strictListing(first.dst)).toEqual(strictListing(src));
    // Packed again, and packed from the unpacked copy elsewhere: same blob.
    const again = await roundTrip(src, "all-2");
    const fromCopy = await roundTrip(first.dst, "all-3");
    expect(again.digest).toBe(first.digest);
    expect(fromCopy.digest).toBe(first.digest);
    // A copy made by other means (cp -a: other inodes, other directory order) too.
    const copy = join(root, "copy");
    execFileSync("cp", ["-a", src, copy]);
    expect((await packTree(copy, join(root, "copy.tar.zst"))).digest).toBe(first.digest);
  });
});
