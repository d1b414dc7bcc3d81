// PENDING (engine/ and the planner; found by the differential test): two builds of the same tree in two
// caches give a layer the same key but a different output digest.
//
// First cause (fixed on main in 3f11749): the digest fingerprinted overlayfs's bookkeeping xattrs
// (trusted.overlay.origin/impure/uuid), which name the lower inodes of one cache.
//
// Second cause (open): systemd-setup declares RootPassword= as a secret, and a secret enters the key as a
// keyed digest with the cache's own secret key, even when the setting is unset (null). So its key differs
// between two caches for identical inputs; its output digest is the same, so the next layer (cleanup)
// gets the same key (keys use dependencies' digests) — but a layer's output digest covers its metadata,
// which lists the keys of the layers below it (`layers`), so cleanup's digest differs, and everything
// downstream of a layer that sits on systemd-setup. A shared cache (issue 14) can then never match those
// keys across machines, and a digest comparison across caches (what `--check` does within one) reports
// them. Either keep unset secrets out of the key (or key them without the cache's secret), or leave the
// lower layers' keys out of a layer's output digest (the digests of the layers below already say what
// they hold), or both.
import { afterEach, describe, expect, it } from "vitest";
import { type Scenario, scenario } from "../scenario.js";

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
