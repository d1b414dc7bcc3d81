// Item 3 of the safety issue, through real builds: file names that are not valid UTF-8 in every kind of
// tree input (extra, skeleton, build sources, and on Debian sandbox trees and package directories) are
// inputs by their bytes: a rename reruns what reads the tree, the output gets the right name (incremental
// publish, -f, SourceDateEpoch=), and `mkosi graph --why` shows the name readably (the invalid bytes
// escaped, never raw or U+FFFD).
import { readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  debianConf,
  makeTree as makeDebianTree,
  missingDebianPrerequisite,
  runMkosi,
  SAFETY_GRAPH,
} from "./debian.js";
import { buildJson, customTree, makeTree, missingPrerequisite, mkosiOk, type Tree } from "./helpers.js";

const skip = missingPrerequisite();

/** `dir` + "/" + `rel`, where `rel` is a latin1 string standing for raw bytes. */
/** Makes the renames below new to the caches the tests share across runs. */
const nonce = Date.now().toString(36);

function at(dir: string, rel: string): Buffer {
  return Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(rel, "latin1")]);
}

/** Names in a directory, as latin1 strings of their bytes. */
function names(dir: string): string[] {
  return readdirSync(dir, { encoding: "buffer" })
    .map((n) => n.toString("latin1"))
    .sort();
}

describe.skipIf(skip !== undefined)(
  `names that are not valid UTF-8${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    let tree: Tree;
    let output: string;

    beforeAll(async () => {
      tree = await makeTree(
        customTree({
          "mkosi.conf": [
            "[Distribution]",
            "Distribution=custom",
            "[Output]",
            "Format=directory",
            "ImageVersion=1.0",
            "[Content]",
            "SourceDateEpoch=1700000000",
            "[Build]",
            "BuildSources=src",
            "",
          ].join("\n"),
          "mkosi.build": '#!/bin/sh\nls "$SRCDIR" > "$DESTDIR/sources"\n',
        }),
      );
      output = join(tree.dir, "image_1.0");
      for (const [dir, name] of [
        ["mkosi.extra/etc", "q\xfa"],
        ["mkosi.skeleton/etc", "s\xfa"],
        ["src", "b\xfa"],
      ]) {
        await mkdir(join(tree.dir, dir), { recursive: true });
        writeFileSync(at(join(tree.dir, dir), name), `${dir}\n`);
      }
      await buildJson(tree);
    });

    afterAll(async () => {
      await tree?.remove();
    });

    it("are published with their bytes", () => {
      expect(names(join(output, "etc"))).toContain("q\xfa");
      expect(names(join(output, "etc"))).toContain("s\xfa");
      expect(readFileSync(at(output, "etc/q\xfa"), "utf8")).toBe("mkosi.extra/etc\n");
      expect(readFileSync(join(output, "sources")).toString("latin1")).toContain("b\xfa");
    });

    it("a rename in the extra tree reruns the extras and publishes the new name", async () => {
      renameSync(at(tree.dir, "mkosi.extra/etc/q\xfa"), at(tree.dir, "mkosi.extra/etc/q\xfb"));
      const why = (await mkosiOk(tree, ["graph", "--why", "extras"])).stdout;
      expect(why).toContain("status: will run");
      expect(why).toContain("removed: etc/q\\xfa");
      expect(why).toContain("added: etc/q\\xfb");
      expect(why).not.toContain("\uFFFD");
      const { ran, events } = await buildJson(tree);
      expect(ran).toContain("main/extras");
      expect(ran).toContain("main/publish");
      // Incrementally: the previous output updated from the changed layers.
      const publishLog = events.flatMap((e) => (e.type === "log" && e.id === "main/publish" ? [e.line] : []));
      expect(publishLog.some((line) => /^updated \d+ and removed \d+ entries/.test(line))).toBe(true);
      expect(names(join(output, "etc"))).toContain("q\xfb");
      expect(names(join(output, "etc"))).not.toContain("q\xfa");
      expect((await buildJson(tree)).ran).toEqual([]);
    });

    it("-f publishes the new name too", async () => {
      await mkosiOk(tree, ["-f", "build"]);
      expect(names(join(output, "etc"))).toContain("q\xfb");
      expect(names(join(output, "etc"))).not.toContain("q\xfa");
    });

    it("a rename in the skeleton tree reruns the skeleton", async () => {
      renameSync(at(tree.dir, "mkosi.skeleton/etc/s\xfa"), at(tree.dir, "mkosi.skeleton/etc/s\xfb"));
      const { ran } = await buildJson(tree);
      expect(ran).toContain("main/skeleton");
      expect(names(join(output, "etc"))).toContain("s\xfb");
      expect(names(join(output, "etc"))).not.toContain("s\xfa");
    });

    it("a rename in the build sources reruns the build script", async () => {
      renameSync(at(tree.dir, "src/b\xfa"), at(tree.dir, "src/b\xfb"));
      const { ran } = await buildJson(tree);
      expect(ran).toContain("main/build");
      expect(readFileSync(join(output, "sources")).toString("latin1")).toContain("b\xfb");
    });
  },
);

const debianSkip = missingDebianPrerequisite();

describe.skipIf(debianSkip !== undefined)(
  `names that are not valid UTF-8 in Debian's inputs${debianSkip ? ` (skipped: ${debianSkip})` : ""}`,
  () => {
    let dir: string;
    const build = async () => {
      const run = await runMkosi(["--json", "build"], { cwd: dir, env: { MKOSI_CACHE_DIR: SAFETY_GRAPH } });
      if (run.code !== 0)
        throw new Error(`build failed (${run.code}):\n${run.stderr}\n${run.stdout.slice(-3000)}`);
      return run.ran;
    };

    beforeAll(async () => {
      dir = await makeDebianTree({
        files: {
          "mkosi.conf": debianConf(["PackageDirectories=pkgs"]),
          "mkosi.sandbox/etc/mkosi-test": "sandbox\n",
          "pkgs/README": "no packages here\n",
        },
      });
      writeFileSync(at(dir, "mkosi.sandbox/etc/x\xfa"), "sandbox\n");
      writeFileSync(at(dir, "pkgs/p\xfa"), "not a package\n");
      await build();
    }, 900_000);

    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("a rename in a sandbox tree reruns the steps that read it", async () => {
      // New to the shared cache (SAFETY_GRAPH): a previous run built the plain x\xfb already.
      renameSync(at(dir, "mkosi.sandbox/etc/x\xfa"), at(dir, `mkosi.sandbox/etc/x\xfb${nonce}`));
      expect(await build()).toContain("main/metadata");
    }, 900_000);

    it("a rename in a package directory reruns the packages step", async () => {
      renameSync(at(dir, "pkgs/p\xfa"), at(dir, `pkgs/p\xfb${nonce}`));
      expect(await build()).toContain("main/packages");
      expect(await build()).toEqual([]);
    }, 900_000);
  },
);
