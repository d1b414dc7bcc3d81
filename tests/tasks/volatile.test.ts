// Volatile files are dropped from every layer, also from overlay upper trees where an install or cleanup
// removed their directory: there a parent is a whiteout (a character device), not a directory.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { normalizeUpper } from "../../tasks/layers.js";
import { removeVolatileFiles } from "../../tasks/volatile.js";

describe("volatile files", () => {
  let dir = "";
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("are removed from an upper tree whose /var/log is a whiteout, and where they are", () => {
    dir = mkdtempSync(join(tmpdir(), "mkosi-volatile-"));
    mkdirSync(join(dir, "var/cache/ldconfig"), { recursive: true });
    writeFileSync(join(dir, "var/cache/ldconfig/aux-cache"), "stat data");
    execFileSync("mknod", [join(dir, "var/log"), "c", "0", "0"]);
    return normalizeUpper(dir).then(() => {
      expect(existsSync(join(dir, "var/cache/ldconfig/aux-cache"))).toBe(false);
      expect(existsSync(join(dir, "var/log"))).toBe(true);
    });
  });

  it("are removed from an image root whose /var is a file", async () => {
    dir = mkdtempSync(join(tmpdir(), "mkosi-volatile-"));
    writeFileSync(join(dir, "var"), "not a directory");
    mkdirSync(join(dir, "etc"));
    writeFileSync(join(dir, "etc/machine-info"), "x");
    await removeVolatileFiles(dir);
    expect(existsSync(join(dir, "etc/machine-info"))).toBe(false);
  });
});
