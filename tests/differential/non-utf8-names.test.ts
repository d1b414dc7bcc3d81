// Regression test (issue 10 item 3; found by the differential test, seed 20261203 step 2): a file whose
// name is not UTF-8, added to mkosi.extra/, was an "up to date" cache hit (the tree's fingerprint read
// names as UTF-8 strings, so the new name was not seen), and a clean build of the same tree failed in
// publish with "ENOENT: lstat …/img/etc/\uFFFD\uFFFDname". Names are bytes now, in keys and copies.
import { afterEach, describe, expect, it } from "vitest";
import { type Scenario, scenario } from "./scenario.js";

describe("names that are not UTF-8 in a tree", () => {
  let s: Scenario | undefined;
  afterEach(() => s?.remove());

  it.each([
    ["a new file", "mkosi.extra/etc/\\xff\\xfename"],
    ["a Latin-1 name", "mkosi.extra/etc/caf\\xe9"],
  ])(
    "%s reaches the incremental output as in a clean build",
    async (_what, path) => {
      s = scenario(
        [
          ["Format", "directory"],
          ["Output", "img"],
          ["SourceDateEpoch", "1700000000"],
        ],
        [{ op: "write", path: "mkosi.extra/etc/motd", data: "motd\n" }],
      );
      expect((await s.incremental()).code).toBe(0);
      s.edit({ op: "write", path, data: "not UTF-8\n" });
      const incremental = await s.incremental();
      expect(incremental.error).toBe("");
      expect([...incremental.nodes.values()].some((n) => n.status === "ran")).toBe(true);
      const clean = await s.clean();
      expect(clean.error).toBe("");
      expect(await s.differences()).toEqual([]);
    },
    120_000,
  );

  it("renaming \\xfa to \\xfb changes the output", async () => {
    s = scenario(
      [
        ["Format", "directory"],
        ["Output", "img"],
        ["SourceDateEpoch", "1700000000"],
      ],
      [{ op: "write", path: "mkosi.extra/etc/q\\xfa", data: "q\n" }],
    );
    await s.incremental();
    s.edit({ op: "rename", from: "mkosi.extra/etc/q\\xfa", to: "mkosi.extra/etc/q\\xfb" });
    expect((await s.incremental()).code).toBe(0);
    expect((await s.clean()).code).toBe(0);
    expect(await s.differences()).toEqual([]);
  }, 120_000);
});
