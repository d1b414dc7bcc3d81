// Regression test (found by the differential test, seed 20261203 step 68): a post-output script that writes a
// file of its own into $OUTPUTDIR (a name that is not one of the image's output names) made every later
// rebuild fail in publish with "Refusing to overwrite <OutputDirectory>/extra.txt: it exists and is not an
// output of image 'img'": the file the previous build of this same image put there was treated as the
// user's, while a clean build (empty output directory) succeeded. The publish claims every name it moves
// in (tasks/published.ts); formats/outputdir.ts now replaces a claimed name too, and still refuses a file
// that is not the one it published.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Scenario, scenario } from "./scenario.js";

describe("a post-output script's own files", () => {
  let s: Scenario | undefined;
  afterEach(() => s?.remove());

  it("do not stop the next build of the same image", async () => {
    s = scenario(
      [
        ["Format", "directory"],
        ["Output", "img"],
        ["SourceDateEpoch", "1700000000"],
      ],
      [
        { op: "write", path: "mkosi.extra/etc/motd", data: "one\n" },
        {
          op: "write",
          path: "mkosi.postoutput",
          data: '#!/bin/sh\nset -e\ncat "$OUTPUTDIR/img/etc/motd" > "$OUTPUTDIR/extra.txt"\ntouch -d @1 "$OUTPUTDIR/extra.txt"\n',
          mode: 0o755,
        },
      ],
    );
    expect((await s.incremental()).code).toBe(0);
    s.edit({ op: "write", path: "mkosi.extra/etc/motd", data: "two\n" });
    const rebuild = await s.incremental();
    expect(rebuild.error).toBe("");
    expect(rebuild.code).toBe(0);
    expect(readFileSync(join(s.ws.incremental.out, "extra.txt"), "utf8")).toBe("two\n");
    expect((await s.clean()).code).toBe(0);
    expect(await s.differences()).toEqual([]);
    // A file of the user's at that name (a new inode) is not replaced.
    const extra = join(s.ws.incremental.out, "extra.txt");
    rmSync(extra);
    writeFileSync(extra, "the user's\n");
    s.edit({ op: "write", path: "mkosi.extra/etc/motd", data: "three\n" });
    const refused = await s.incremental();
    expect(refused.code).not.toBe(0);
    expect(refused.error).toMatch(/Refusing to overwrite .*extra\.txt/);
    expect(readFileSync(extra, "utf8")).toBe("the user's\n");
  }, 120_000);
});
