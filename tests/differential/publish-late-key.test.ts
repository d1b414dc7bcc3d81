// Regression test (found by the differential test, seed 12 step 95): an output that a later build replaced
// was not published again when the publish node's key was only known after an upstream node reran (early
// cutoff to an older build's key, served from the cache while the output directory held the later
// build's content). Fixed on main: the check is made when the key is known (RunOptions.acceptCached).
// tests/pipeline/revert.test.ts covers the build script; this one reaches it through Locale= and a
// post-installation script, as the random run did.
//
// Reproduction: build A (no Locale=), build B (Locale=C.UTF-8: the output gets /etc/locale.conf), then
// remove Locale= again and edit the post-installation script in a way that does not change what it writes:
// postinst reruns with the same output as in A, every later node resolves to A's key, and the output must
// lose B's /etc/locale.conf.
import { afterEach, describe, expect, it } from "vitest";
import { type Scenario, scenario } from "./scenario.js";

describe("a reverted change behind an early cutoff", () => {
  let s: Scenario | undefined;
  afterEach(() => s?.remove());

  it("publishes the output of the current inputs again", async () => {
    const postinst = '#!/bin/sh\nset -e\necho a > "$BUILDROOT/etc/a"\n';
    s = scenario(
      [
        ["Format", "directory"],
        ["Output", "img"],
        ["SourceDateEpoch", "1700000000"],
      ],
      [
        { op: "write", path: "mkosi.skeleton/etc/issue", data: "issue\n" },
        { op: "write", path: "mkosi.postinst", data: postinst, mode: 0o755 },
      ],
    );
    expect((await s.incremental()).code).toBe(0);
    s.edit({ op: "set", key: "Locale", value: "C.UTF-8" });
    expect((await s.incremental()).code).toBe(0);
    s.edit(
      { op: "set", key: "Locale", value: null },
      { op: "write", path: "mkosi.postinst", data: `${postinst}true\n`, mode: 0o755 },
    );
    const revert = await s.incremental();
    expect(revert.code).toBe(0);
    expect((await s.clean()).code).toBe(0);
    expect(await s.differences()).toEqual([]);
  }, 120_000);
});
