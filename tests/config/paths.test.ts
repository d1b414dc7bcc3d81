import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTreeItem, parsePathValue, purePath, resolvePath } from "../../config/paths.js";

const root = realpathSync(mkdtempSync(join(tmpdir(), "mkosi-paths-")));
afterAll(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, "real", "sub"), { recursive: true });
symlinkSync(join(root, "real", "sub"), join(root, "link"));
symlinkSync("loop", join(root, "loop"));
const env = { cwd: root, env: { HOME: "/home/u", V: "/v" }, warn: () => {} };

describe("purePath", () => {
  it("normalizes like a path object", () => {
    expect(purePath("a//b/./c/")).toBe("a/b/c");
    expect(purePath("/a/../b")).toBe("/a/../b");
    expect(purePath("//x")).toBe("//x");
    expect(purePath("///x")).toBe("/x");
    expect(purePath("")).toBe(".");
    expect(purePath("./")).toBe(".");
  });
});

describe("resolvePath", () => {
  it("follows symlinks in the existing prefix before applying ..", () => {
    expect(resolvePath("link/../out", root)).toBe(join(root, "real", "out"));
    expect(resolvePath("link/missing/deeper", root)).toBe(join(root, "real", "sub", "missing", "deeper"));
  });
  it("keeps a missing path as written, relative to cwd", () => {
    expect(resolvePath("nope/x/", root)).toBe(join(root, "nope", "x"));
    expect(resolvePath("/", root)).toBe("/");
  });
  it("stops at a symlink loop", () => {
    expect(resolvePath("loop/x", root)).toBe(join(root, "loop", "x"));
  });
});

describe("parsePathValue", () => {
  it("requires existence by default and names the value with variables expanded", () => {
    expect(() => parsePathValue("$V/nothere", env)).toThrow("/v/nothere does not exist");
    expect(() => parsePathValue("~/nothere", env)).toThrow("~/nothere does not exist");
  });
  it("accepts missing paths when not required", () => {
    expect(parsePathValue("out", env, { required: false })).toBe(join(root, "out"));
    expect(parsePathValue("~/c", env, { required: false })).toBe("/home/u/c");
  });
  it("checks directories", () => {
    expect(() => parsePathValue("link/../..", env, { directory: true })).not.toThrow();
  });
  it("checks exclusions on the path as written", () => {
    expect(() => parsePathValue("/usr/bin", env, { exclude: ["/usr"] })).toThrow(
      "/usr/bin can not be relative to /usr",
    );
    expect(parsePathValue("/usrlocal", env, { required: false, exclude: ["/usr"] })).toBe("/usrlocal");
  });
});

describe("trees", () => {
  it("expands variables in the target but does not resolve it", () => {
    const t = makeTreeItem({ required: false })("src:$V//x/", env);
    expect(t).toEqual({ Source: join(root, "src"), Target: "/v/x" });
  });
  it("requires an absolute target unless relative ones are allowed", () => {
    expect(() => makeTreeItem({ required: false })("src:x", env)).toThrow("x must be an absolute path");
    expect(makeTreeItem({ required: false, relativeTarget: true })("src:x/", env)).toEqual({
      Source: join(root, "src"),
      Target: "x",
    });
  });
});
