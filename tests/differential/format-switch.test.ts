// Regression test (found by the differential test, seed 20261203 step 193): switching Format=directory to
// Format=tar made the next incremental build refuse "Output path …/img exists already and was not built by
// mkosi with this cache", while a clean build succeeded. The claims on what a publish put in the output
// directory were looked up under the image's main output only, whose name changes with Format= (img →
// img.tar): the `img` directory published a build earlier was claimed under the old name. Now a claim of
// this cache under another main output in the same directory counts too (tasks/published.ts ownsOutput);
// a user's entry at the path is still refused.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Scenario, scenario } from "./scenario.js";

describe("switching Format=", () => {
  let s: Scenario | undefined;
  afterEach(() => s?.remove());

  it("replaces what the image published under its other output name, and nothing of the user's", async () => {
    s = scenario(
      [
        ["Format", "directory"],
        ["Output", "img"],
        ["SourceDateEpoch", "1700000000"],
      ],
      [{ op: "write", path: "mkosi.extra/etc/motd", data: "one\n" }],
    );
    expect((await s.incremental()).error).toBe("");
    for (const format of ["tar", "directory", "cpio"]) {
      s.edit({ op: "set", key: "Format", value: format });
      expect((await s.incremental()).error, `Format=${format}`).toBe("");
      expect((await s.clean()).error).toBe("");
      expect(await s.differences()).toEqual([]);
    }
    // The user's directory in place of the `img` symlink Format=cpio published: ours no longer.
    const img = join(s.ws.incremental.out, "img");
    rmSync(img);
    mkdirSync(img);
    writeFileSync(join(img, "IMPORTANT"), "the user's\n");
    s.edit({ op: "set", key: "Format", value: "directory" });
    const refused = await s.incremental();
    expect(refused.code).not.toBe(0);
    expect(refused.error).toMatch(/img exists already and was not built by mkosi with this cache/);
  }, 120_000);
});
