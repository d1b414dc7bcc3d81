// The differential test's own parts: the listing (names as bytes, what it records and what it leaves
// out), the edits (applied from plain data, names that are not UTF-8), and the generator's determinism.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { customVariant } from "./custom-variant.js";
import { generateStep, scan } from "./generator.js";
import { diffListings, escapeBytes, listTree, unescapeBytes } from "./listing.js";
import { applyOp } from "./ops.js";
import { Prng } from "./prng.js";
import { ddmin } from "./runner.js";

let dir = "";
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "mkosi-differential-helpers-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const bytesPath = (...parts: (string | Buffer)[]) =>
  Buffer.concat(parts.map((p, i) => Buffer.concat([i ? Buffer.from("/") : Buffer.alloc(0), Buffer.from(p)])));

describe("escaped bytes", () => {
  it("round-trip every byte, and keep printable ASCII readable", () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(unescapeBytes(escapeBytes(all))).toEqual(all);
    expect(escapeBytes(Buffer.from("etc/motd"))).toBe("etc/motd");
    expect(escapeBytes(Buffer.from([0x63, 0xe9, 0x5c, 0x20, 0x0a]))).toBe("c\\xe9\\x5c\\x20\\x0a");
  });
});

describe("listTree", () => {
  it("lists names that are not UTF-8 as distinct entries, with their xattrs", async () => {
    const a = bytesPath(dir, Buffer.from([0x71, 0xfa]));
    const b = bytesPath(dir, Buffer.from([0x71, 0xfb]));
    writeFileSync(a, "a");
    writeFileSync(b, "b");
    execFileSync("bash", ["-c", 'IFS= read -r -d "" p; setfattr -n user.x -v 1 -- "$p"'], {
      input: Buffer.concat([a, Buffer.from([0])]),
    });
    const listing = await listTree(dir);
    expect([...listing.keys()].sort()).toEqual([".", "q\\xfa", "q\\xfb"]);
    expect(listing.get("q\\xfa")).toMatch(/xattrs=user\.x=0x31/);
    expect(listing.get("q\\xfb")).not.toMatch(/xattrs/);
  });

  it("records type, mode, owner, content, link target and hard links; times only when asked", async () => {
    writeFileSync(join(dir, "f"), "content");
    chmodSync(join(dir, "f"), 0o4755);
    symlinkSync("f", join(dir, "l"));
    execFileSync("ln", [join(dir, "f"), join(dir, "h")]);
    mkdirSync(join(dir, "d"));
    utimesSync(join(dir, "d"), 1000, 1000);
    const listing = await listTree(dir);
    expect(listing.get("f")).toMatch(/^f 4755 0:0 size=7 sha256=ed7002b4/);
    expect(listing.get("f")).toMatch(/hardlink=f$/);
    expect(listing.get("h")).toMatch(/hardlink=f$/);
    expect(listing.get("l")).toBe("l 777 0:0 target=f");
    expect(listing.get("d")).toBe("d 755 0:0");
    expect((await listTree(dir, { mtimes: true })).get("d")).toBe("d 755 0:0 mtime=1000000000000");
  });

  it("finds every kind of difference", async () => {
    writeFileSync(join(dir, "f"), "one");
    const before = await listTree(dir);
    writeFileSync(join(dir, "f"), "two");
    writeFileSync(join(dir, "new"), "");
    const differences = diffListings(before, await listTree(dir));
    expect(differences.map((d) => d.path)).toEqual(["f", "new"]);
    expect(differences[1]!.a).toBeUndefined();
  });
});

describe("edits", () => {
  it("apply from plain data, names that are not UTF-8 included", async () => {
    const settings: [string, string | null][] = [];
    const apply = (op: Parameters<typeof applyOp>[1]) => applyOp(dir, op, (k, v) => settings.push([k, v]));
    apply({ op: "write", path: "t/etc/caf\\xe9", data: { bytes: "\\x00\\xff" }, mode: 0o600 });
    apply({ op: "symlink", path: "t/etc/link", target: "caf\\xe9" });
    apply({ op: "xattr", path: "t/etc/caf\\xe9", name: "user.k", value: "v" });
    apply({ op: "xattr", path: "t/etc/caf\\xe9", name: "user.absent", value: null });
    apply({ op: "rename", from: "t/etc/link", to: "t/etc/d\\xe9r/link" });
    apply({ op: "set", key: "Hostname", value: "x" });
    const listing = await listTree(join(dir, "t"));
    expect(listing.get("etc/caf\\xe9")).toMatch(/^f 600 0:0 size=2 .* xattrs=user\.k=0x76$/);
    expect(listing.get("etc/d\\xe9r/link")).toBe("l 777 0:0 target=caf\\xe9");
    expect(settings).toEqual([["Hostname", "x"]]);
    expect(scan(dir, "t").map((e) => `${e.type} ${e.path}`)).toEqual([
      "d t/etc",
      "f t/etc/caf\\xe9",
      "d t/etc/d\\xe9r",
      "l t/etc/d\\xe9r/link",
    ]);
  });
});

describe("the generator", () => {
  it("draws the same edits from the same seed and tree", () => {
    const draw = () => {
      const root = mkdtempSync(join(dir, "tree-"));
      const settings = new Map(customVariant.settings);
      const rng = new Prng(42);
      return Array.from({ length: 30 }, () => {
        const step = generateStep(customVariant.kinds, { rng, root, settings });
        for (const op of step.ops) {
          if (op.op === "set") {
            if (op.value === null) settings.delete(op.key);
            else settings.set(op.key, op.value);
          } else if (op.op !== "remove-outputs") {
            try {
              applyOp(root, op, () => undefined);
            } catch {
              // skipped edits are part of the sequence too
            }
          }
        }
        return step;
      });
    };
    expect(JSON.stringify(draw())).toBe(JSON.stringify(draw()));
  });
});

describe("ddmin", () => {
  it("finds the steps a failure needs, in order", async () => {
    const steps = Array.from({ length: 40 }, (_, i) => i);
    // Fails when 7 comes before 23 and 31 is there.
    const fails = async (c: number[]) => c.includes(31) && c.includes(7) && c.indexOf(7) < c.indexOf(23);
    expect(await ddmin(steps, fails)).toEqual([7, 23, 31]);
  });
});
