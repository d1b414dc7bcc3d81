// Regression test (found by the differential test): two builds of the same tree in two caches gave a layer
// the same key but a different output digest.
//
// First cause (fixed in 3f11749): the digest fingerprinted overlayfs's bookkeeping xattrs
// (trusted.overlay.origin/impure/uuid), which name the lower inodes of one cache.
//
// Second cause: systemd-setup declares RootPassword= as a secret, keyed with the cache's own secret key
// (even when unset), so its key differs between caches while its output does not. A layer's metadata lists
// the keys of the layers below it, and the output digest covered that metadata: cleanup's digest differed
// between caches, and so did every key downstream. Now a retained artifact named in the metadata counts by
// its digest (engine/encoding.ts outputDigest).
import { afterEach, describe, expect, it } from "vitest";
import { type Scenario, scenario } from "./scenario.js";

describe("output digests", () => {
  let s: Scenario | undefined;
  afterEach(() => s?.remove());

  it("are the same in two caches for the same key", async () => {
    s = scenario(
      [
        ["Format", "directory"],
        ["Output", "img"],
        ["SourceDateEpoch", "1700000000"],
        ["Hostname", "alpha"],
      ],
      [
        { op: "write", path: "mkosi.skeleton/etc/issue", data: "skeleton\n" },
        { op: "write", path: "mkosi.extra/etc/motd", data: "extra\n" },
        { op: "write", path: "mkosi.extra/usr/lib/extra", data: "extra\n" },
      ],
    );
    const a = await s.incremental();
    const b = await s.clean();
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    const differing: string[] = [];
    for (const [id, x] of a.nodes) {
      const y = b.nodes.get(id);
      if (x.key === y?.key && x.digest !== y?.digest) differing.push(id);
    }
    expect(differing).toEqual([]);
  }, 120_000);
});
