// Item 9 of the safety issue: when a build runs out of space, the final error block says "No space left
// on device", also when the command that hit it went on printing (dpkg lists every package it could not
// configure after the write error), and when the error is Node's (ENOSPC).
import { execFileSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatFailure } from "../../cli/render/messages.js";
import type { TaskFailure } from "../../engine/api.js";
import { customTree, makeTree, missingPrerequisite, mkosi, type Tree } from "./helpers.js";

const skip = missingPrerequisite(["mount"]);

/** The last error block of a build's output (from its last "ERROR:" line to the end). */
function finalBlock(stderr: string): string {
  return stderr.slice(stderr.lastIndexOf("ERROR:"));
}

describe("the failure block", () => {
  const failure = (message: string, logTail: string[] = []): TaskFailure => ({
    message,
    logTail,
    logFile: "/cache/logs/x.log",
  });

  it("says No space left on device for Node's ENOSPC errors", () => {
    const lines = formatFailure("[main] extras", failure("ENOSPC: no space left on device, write"));
    expect(lines.join("\n")).toContain("No space left on device");
  });

  it("does not mention it otherwise", () => {
    const lines = formatFailure("[main] extras", failure("exit status 1", ["E: something else"]));
    expect(lines.join("\n")).not.toMatch(/space/i);
  });
});

describe.skipIf(skip !== undefined)(
  `a build on a full file system${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    let tree: Tree;
    let small: string;

    beforeAll(async () => {
      tree = await makeTree(
        customTree({
          // Fills the file system, then goes on printing (as dpkg does) before it fails.
          "mkosi.build": [
            "#!/bin/sh",
            'head -c 64M /dev/zero > "$DESTDIR/fill" || echo "write failed"',
            'for i in $(seq 40); do echo "error processing package number $i"; done',
            "exit 1",
            "",
          ].join("\n"),
        }),
      );
      small = join(tree.root, "small");
      await mkdir(small);
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", small]);
    });

    afterAll(async () => {
      if (small) execFileSync("umount", ["-l", small]);
      await tree?.remove();
    });

    it("says No space left on device in the final error block", async () => {
      const run = await mkosi(tree, ["build"], { MKOSI_CACHE_DIR: join(small, "cache") });
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain("error processing package number 40");
      expect(finalBlock(run.stderr)).toContain("No space left on device");
    });
  },
);
