// Item 10 of the safety issue: an output edited by hand so that it keeps its size and modification time
// is noticed by the next build, instead of being called up to date. The edit is the user's: the output is
// kept as it is (and said so) while the configuration still builds what was published there, and replaced
// only with -f. A directory output is compared with the listing recorded when it was published (change
// times, which user space cannot set back); a file output by its own change time.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildJson, conf, customTree, makeTree, missingPrerequisite, type Tree } from "./helpers.js";

const skip = missingPrerequisite();

/** Rewrites `path` with other bytes of the same length and puts its times back. */
function editKeepingSizeAndTime(path: string): void {
  const before = readFileSync(path);
  const mtime = statSync(path, { bigint: true }).mtimeNs;
  const reference = `${path}.times`;
  execFileSync("touch", ["-r", path, reference]);
  const after = Buffer.from(before);
  after[0] = after[0] === 0x58 ? 0x59 : 0x58;
  writeFileSync(path, after);
  execFileSync("touch", ["-r", reference, path]);
  rmSync(reference);
  expect(statSync(path).size).toBe(before.length);
  expect(statSync(path, { bigint: true }).mtimeNs).toBe(mtime);
}

describe.skipIf(skip !== undefined)(`hand-edited outputs${skip ? ` (skipped: ${skip})` : ""}`, () => {
  const trees: Tree[] = [];

  afterAll(async () => {
    for (const tree of trees) await tree.remove();
  });

  it("a directory output edited deep inside is noticed, kept, and replaced by -f", async () => {
    const tree = await makeTree(customTree());
    trees.push(tree);
    await buildJson(tree);
    expect((await buildJson(tree)).ran).toEqual([]);
    const motd = join(tree.dir, "image_1.0/etc/motd");
    editKeepingSizeAndTime(motd);
    const kept = await buildJson(tree);
    expect(kept.ran).toEqual([]);
    expect(kept.run.stderr).toMatch(/image_1\.0 was changed since it was published: kept as it is/);
    expect(readFileSync(motd, "utf8")).not.toBe("hello\n");
    const forced = await buildJson(tree, ["-f"]);
    expect(forced.ran).toContain("main/publish");
    expect(readFileSync(motd, "utf8")).toBe("hello\n");
    expect((await buildJson(tree)).ran).toEqual([]);
  });

  it("a file output edited in place is noticed, kept, and replaced by -f", async () => {
    const tree = await makeTree(customTree());
    trees.push(tree);
    await tree.write({
      "mkosi.conf": conf({ ImageVersion: "1.0" }).replace("Format=directory", "Format=tar"),
    });
    await buildJson(tree);
    const tar = join(tree.dir, readdirSync(tree.dir).find((name) => name.startsWith("image_1.0.tar"))!);
    const original = readFileSync(tar);
    editKeepingSizeAndTime(tar);
    const kept = await buildJson(tree);
    expect(kept.ran).toEqual([]);
    expect(kept.run.stderr).toMatch(/was changed since it was published: kept as it is/);
    expect(readFileSync(tar).equals(original)).toBe(false);
    await buildJson(tree, ["-f"]);
    expect(readFileSync(tar).equals(original)).toBe(true);
  });
});
