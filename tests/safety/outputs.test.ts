// Item 1 of the safety issue: a build replaces only what this tool published at an output path. A user's
// directory or file there (made before the first build, or put in place of a published output) makes the
// build stop before any work, naming the path; -f replaces it. Our own outputs are still rebuilt in place
// without -f, also after an interrupted publish (which leaves no record that vouches for the content, but
// the output is still ours).
import { existsSync, lstatSync, readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { conf, customTree, makeTree, missingPrerequisite, mkosi, mkosiOk, type Tree } from "./helpers.js";

const skip = missingPrerequisite();

describe.skipIf(skip !== undefined)(`outputs the user owns${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let tree: Tree;
  let output: string;

  beforeAll(async () => {
    tree = await makeTree(customTree());
    output = join(tree.dir, "image_1.0");
  });

  afterAll(async () => {
    await tree?.remove();
  });

  it("refuses to replace a user's directory at the output path, before any work", async () => {
    await mkdir(output);
    await writeFile(join(output, "IMPORTANT"), "x\n");
    const run = await mkosi(tree, ["--json", "build"]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`Output path ${output} exists already`);
    expect(run.stderr).toMatch(/--force/);
    expect(run.stdout).not.toContain('"type":"started"');
    expect(readFileSync(join(output, "IMPORTANT"), "utf8")).toBe("x\n");
  });

  it("replaces it with -f", async () => {
    await mkosiOk(tree, ["-f", "build"]);
    expect(existsSync(join(output, "IMPORTANT"))).toBe(false);
    expect(readFileSync(join(output, "etc/motd"), "utf8")).toBe("hello\n");
  });

  it("rebuilds its own output in place without -f", async () => {
    await tree.write({ "mkosi.extra/etc/motd": "changed\n" });
    await mkosiOk(tree, ["build"]);
    expect(readFileSync(join(output, "etc/motd"), "utf8")).toBe("changed\n");
  });

  it("still owns its output after an interrupted publish (no record vouches for the content)", async () => {
    await rm(join(tree.cache, "published"), { recursive: true, force: true });
    await writeFile(join(output, "etc/motd"), "left behind\n");
    await mkosiOk(tree, ["build"]);
    expect(readFileSync(join(output, "etc/motd"), "utf8")).toBe("changed\n");
  });

  it("adopts an output published before claims were kept, while the publish record vouches for it", async () => {
    await rm(join(tree.cache, "owned"), { recursive: true, force: true });
    await tree.write({ "mkosi.extra/etc/motd": "adopted\n" });
    await mkosiOk(tree, ["build"]);
    expect(readFileSync(join(output, "etc/motd"), "utf8")).toBe("adopted\n");
    // Without either record, the output is nobody's: -f is needed.
    await rm(join(tree.cache, "owned"), { recursive: true, force: true });
    await rm(join(tree.cache, "published"), { recursive: true, force: true });
    await tree.write({ "mkosi.extra/etc/motd": "changed\n" });
    const run = await mkosi(tree, ["build"]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`Output path ${output} exists already`);
    await mkosiOk(tree, ["-f", "build"]);
  });

  it("refuses a user's directory put in place of a published output", async () => {
    await rm(output, { recursive: true });
    await mkdir(output);
    await writeFile(join(output, "IMPORTANT"), "y\n");
    const run = await mkosi(tree, ["build"]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`Output path ${output} exists already`);
    expect(readFileSync(join(output, "IMPORTANT"), "utf8")).toBe("y\n");
    await rm(output, { recursive: true });
    await mkosiOk(tree, ["build"]);
    expect(readFileSync(join(output, "etc/motd"), "utf8")).toBe("changed\n");
  });

  it("refuses a user's file that a post-output script's output would replace", async () => {
    const notes = join(tree.dir, "image_1.0.notes");
    await writeFile(notes, "my notes\n");
    await tree.write({
      "mkosi.postoutput": '#!/bin/sh\necho generated > "$OUTPUTDIR/image_1.0.notes"\n',
      "mkosi.extra/etc/motd": "with notes\n",
    });
    const run = await mkosi(tree, ["build"]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`Output path ${notes} exists already`);
    expect(readFileSync(notes, "utf8")).toBe("my notes\n");
    expect(readFileSync(join(output, "etc/motd"), "utf8")).toBe("changed\n");
    await rm(notes);
    await mkosiOk(tree, ["build"]);
    expect(readFileSync(notes, "utf8")).toBe("generated\n");
    // Now it is ours: the next publish replaces it.
    await tree.write({ "mkosi.extra/etc/motd": "with notes, again\n" });
    await mkosiOk(tree, ["build"]);
    expect(readFileSync(notes, "utf8")).toBe("generated\n");
  });

  it("refuses a user's file at another output name (the <Output> symlink of a tar image)", async () => {
    const tar = await makeTree(customTree());
    try {
      await tar.write({
        "mkosi.conf": conf({ ImageVersion: "1.0" }).replace("Format=directory", "Format=tar"),
      });
      const link = join(tar.dir, "image_1.0");
      await writeFile(link, "mine\n");
      const run = await mkosi(tar, ["build"]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain(`Output path ${link} exists already`);
      expect(readFileSync(link, "utf8")).toBe("mine\n");
      expect(existsSync(join(tar.dir, "image_1.0.tar"))).toBe(false);
      await mkosiOk(tar, ["-f", "build"]);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      // Published by this tool now: a rebuild after a change replaces it without -f.
      await tar.write({ "mkosi.extra/etc/motd": "again\n" });
      await mkosiOk(tar, ["build"]);
    } finally {
      await tar.remove();
    }
  });
});
