// Timing of a cold bootstrap + install of systemd, udev, dbus (empty package cache, fresh metadata).
// Run by hand: MKOSI_BENCH=1 npx vitest run tests/distros/bench.test.ts
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { debian } from "../../distros/debian.js";
import type { PackageManagerContext } from "../../distros/types.js";
import { bookworm, canRunApt, ensureDir } from "./helpers.js";

describe.skipIf(!canRunApt || !process.env.MKOSI_BENCH)("cold bootstrap benchmark", () => {
  it("bootstrap + systemd,udev,dbus", async () => {
    const base = await mkdtemp(join(process.env.MKOSI_BENCH_DIR ?? tmpdir(), "mkosi-bench-"));
    const warm = process.env.MKOSI_BENCH === "warm";
    const cache = warm ? "/var/cache/mkosi-ts-test/packages" : await ensureDir(join(base, "packages"));
    let n = 0;
    const t0 = performance.now();
    const ctx = async (): Promise<PackageManagerContext> => ({
      config: bookworm(),
      workDir: await ensureDir(join(base, "work", String(n++))),
      metadataDir: join(base, "meta"),
      packageCacheDir: cache,
      onOutput: (l) => log.push(`${((performance.now() - t0) / 1000).toFixed(2)} ${l}`),
    });
    const log: string[] = [];
    const root = await ensureDir(join(base, "root"));
    await debian.syncMetadata(await ctx());
    const t1 = performance.now();
    await debian.bootstrap(await ctx(), root);
    const t2 = performance.now();
    await debian.install(await ctx(), root, ["systemd", "udev", "dbus"]);
    const t3 = performance.now();
    const pkgs = await debian.listInstalled(root);
    console.log(
      `${warm ? "warm" : "cold"}: sync ${((t1 - t0) / 1000).toFixed(1)}s, bootstrap ${((t2 - t1) / 1000).toFixed(1)}s, ` +
        `install ${((t3 - t2) / 1000).toFixed(1)}s, total ${((t3 - t0) / 1000).toFixed(1)}s, ${pkgs.length} packages`,
    );
    expect(pkgs.length).toBeGreaterThan(90);
    if (process.env.MKOSI_BENCH_LOG) await writeFile(process.env.MKOSI_BENCH_LOG, log.join("\n"));
    await rm(base, { recursive: true, force: true });
  }, 600_000);
});
