import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { layerMountOptions } from "../../sandbox/overlay.js";
import { subordinateRange } from "../../sandbox/userns.js";

describe("subordinate id ranges", () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "subuid-"));
    file = join(dir, "subuid");
    await writeFile(file, "alice:100000:65536\n1002:165536:65536\nbob:231072:0\n\n");
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("finds a user's range by name or by id", () => {
    expect(subordinateRange(file, "alice", 1001)).toEqual({ start: 100000, count: 65536 });
    expect(subordinateRange(file, "carol", 1002)).toEqual({ start: 165536, count: 65536 });
  });
  it("ignores empty ranges, unknown users and missing files", () => {
    expect(subordinateRange(file, "bob", 1003)).toBeUndefined();
    expect(subordinateRange(file, "dave", 1004)).toBeUndefined();
    expect(subordinateRange(join(dir, "absent"), "alice", 1001)).toBeUndefined();
  });
});

describe("layer mount options", () => {
  it("keep layers reusable as root", () => {
    expect(layerMountOptions(false)).toEqual([
      "index=off",
      "xino=off",
      "redirect_dir=off",
      "metacopy=off",
      "uuid=off",
    ]);
  });
  it("use user xattrs in a user namespace, where redirects are never followed", () => {
    const options = layerMountOptions(true);
    expect(options).toContain("userxattr");
    expect(options).toContain("redirect_dir=nofollow");
    expect(options).not.toContain("redirect_dir=off");
  });
});
