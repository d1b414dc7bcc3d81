// The package-cache lock serializes processes that share one download cache, and takes over a lock
// whose owner died.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { withPackageCacheLock } from "../../distros/cachelock.js";

const LOCK_MODULE = resolve(import.meta.dirname, "../../dist/distros/cachelock.js");

/** Another process that takes the lock and reports when it got it. */
function otherProcess(cache: string): Promise<number> {
  const script = `const { withPackageCacheLock } = await import(${JSON.stringify(LOCK_MODULE)});
await withPackageCacheLock(${JSON.stringify(cache)}, undefined, async () => console.log(Date.now()));`;
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.on("error", fail);
    child.on("close", (code) => (code === 0 ? done(Number(out.trim())) : fail(new Error(`exit ${code}`))));
  });
}

describe("package cache lock", () => {
  it("makes another process wait until it is released", async () => {
    const cache = mkdtempSync(join(tmpdir(), "mkosi-cachelock-"));
    let released = 0;
    let other: Promise<number> | undefined;
    await withPackageCacheLock(cache, undefined, async () => {
      other = otherProcess(cache);
      await new Promise((r) => setTimeout(r, 1500));
      released = Date.now();
    });
    expect(await other!).toBeGreaterThanOrEqual(released);
  }, 30_000);

  it("takes over a lock left by a dead process", async () => {
    const cache = mkdtempSync(join(tmpdir(), "mkosi-cachelock-"));
    mkdirSync(join(cache, ".mkosi-lock"));
    writeFileSync(join(cache, ".mkosi-lock", "pid"), "999999");
    const ran = await withPackageCacheLock(cache, undefined, async () => "ran");
    expect(ran).toBe("ran");
  });
});
