// Item 5 of the safety issue: a build leaves nothing in the temporary directory. The child mkosi gets a
// TMPDIR of its own, which must be as empty after a cold build, a rebuild after a change (overlay mounts,
// incremental publish) and a no-op build as before them.
import { readdirSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { customTree, makeTree, missingPrerequisite, mkosiOk, type Tree } from "./helpers.js";

const skip = missingPrerequisite();

describe.skipIf(skip !== undefined)(`temporary directories${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let tree: Tree;
  let tmp: string;

  beforeAll(async () => {
    tree = await makeTree(customTree());
    tmp = join(tree.root, "tmp");
    await mkdir(tmp);
  });

  afterAll(async () => {
    await tree?.remove();
  });

  it("leaves none behind after builds", async () => {
    expect(readdirSync(tmp)).toEqual([]);
    await mkosiOk(tree, ["build"], { TMPDIR: tmp });
    expect(readdirSync(tmp)).toEqual([]);
    await tree.write({ "mkosi.extra/etc/motd": "changed\n" });
    await mkosiOk(tree, ["build"], { TMPDIR: tmp });
    expect(readdirSync(tmp)).toEqual([]);
    await mkosiOk(tree, ["build"], { TMPDIR: tmp });
    await mkosiOk(tree, ["graph"], { TMPDIR: tmp });
    expect(readdirSync(tmp)).toEqual([]);
  });
});
