import { describe, expect, it } from "vitest";
import {
  compareVersions,
  makeListParser,
  normalizeUuid,
  packageSort,
  parseBoolean,
  parseBytesValue,
  parseCompression,
  parseDriveValue,
  parseFeature,
  parseFilename,
  parseMode,
  parseRootPassword,
  parseSectorSize,
  parseVsockCid,
  shlexSplit,
  tryParseBoolean,
  versionMatches,
} from "../../config/values.js";

const env = { cwd: "/", env: {}, warn: () => {} };

describe("booleans", () => {
  for (const t of ["1", "true", "yes", "y", "t", "on", "always", "YES", "True"])
    it(`${t} is true`, () => expect(tryParseBoolean(t)).toBe(true));
  for (const f of ["0", "false", "no", "n", "f", "off", "never", "NO"])
    it(`${f} is false`, () => expect(tryParseBoolean(f)).toBe(false));
  it("rejects others", () => {
    expect(tryParseBoolean("maybe")).toBeNull();
    expect(() => parseBoolean("maybe", null, env)).toThrow("Invalid boolean literal: 'maybe'");
  });
  it("empty resets, null gives the default", () => {
    expect(parseBoolean("", null, env)).toBeNull();
    expect(parseBoolean(null, null, env)).toBe(false);
  });
});

describe("features", () => {
  it("parses", () => {
    expect(parseFeature("auto", null, env)).toBe("auto");
    expect(parseFeature("yes", null, env)).toBe("enabled");
    expect(parseFeature("off", null, env)).toBe("disabled");
    expect(parseFeature(null, null, env)).toBe("auto");
    expect(() => parseFeature("sometimes", null, env)).toThrow(/sometimes/);
  });
});

describe("compression", () => {
  it("accepts names, aliases and booleans", () => {
    expect(parseCompression("zst", null, env)).toBe("zstd");
    expect(parseCompression("gzip", null, env)).toBe("gz");
    expect(parseCompression("xz", null, env)).toBe("xz");
    expect(parseCompression("yes", null, env)).toBe("zstd");
    expect(parseCompression("no", null, env)).toBe("none");
    expect(() => parseCompression("brotli", null, env)).toThrow(/brotli/);
  });
});

describe("sizes", () => {
  it("uses 1024-based suffixes and rounds up to 4096", () => {
    expect(parseBytesValue("1G")).toBe(1024 ** 3);
    expect(parseBytesValue("512M")).toBe(512 * 1024 ** 2);
    expect(parseBytesValue("4K")).toBe(4096);
    expect(parseBytesValue("1000")).toBe(4096);
    expect(parseBytesValue("1.5G")).toBe(1.5 * 1024 ** 3);
    expect(() => parseBytesValue("lots")).toThrow();
  });
});

describe("scalars", () => {
  it("modes are octal", () => {
    expect(parseMode("0640", null, env)).toBe(416);
    expect(parseMode("123", null, env)).toBe(83);
    expect(() => parseMode("0999", null, env)).toThrow(/base 8/);
  });
  it("uuids are normalized", () => {
    expect(normalizeUuid("0123456789ABCDEF0123456789ABCDEF")).toBe("01234567-89ab-cdef-0123-456789abcdef");
    expect(normalizeUuid("not-a-uuid")).toBeNull();
  });
  it("sector sizes", () => {
    expect(parseSectorSize("4096", null, env)).toBe(4096);
    expect(() => parseSectorSize("1000", null, env)).toThrow("Sector size not power of 2: 1000");
    expect(() => parseSectorSize("256", null, env)).toThrow();
  });
  it("vsock cids", () => {
    expect(parseVsockCid("auto", null, env)).toBe(-1);
    expect(parseVsockCid("hash", null, env)).toBe(-2);
    expect(parseVsockCid("42", null, env)).toBe(42);
    expect(() => parseVsockCid("2", null, env)).toThrow(/VSock connection ID range/);
  });
  it("filenames", () => {
    expect(parseFilename("out", null, env)).toBe("out");
    expect(() => parseFilename("a/b", null, env)).toThrow(/not a valid filename/);
    expect(() => parseFilename("..", null, env)).toThrow();
  });
  it("root passwords", () => {
    expect(parseRootPassword("secret", null, env)).toEqual(["secret", false]);
    expect(parseRootPassword("hashed:$6$x", null, env)).toEqual(["$6$x", true]);
  });
  it("drives", () => {
    expect(parseDriveValue("d:1G", env)).toEqual({
      Directory: null,
      FileId: "d",
      Flags: [],
      Id: "d",
      Options: null,
      Size: 1024 ** 3,
    });
    expect(parseDriveValue("d:1G:/tmp:cache=unsafe:f:persist", env)).toMatchObject({
      Directory: "/tmp",
      Options: "cache=unsafe",
      FileId: "f",
      Flags: ["persist"],
    });
    expect(() => parseDriveValue("d", env)).toThrow();
  });
});

describe("lists", () => {
  const list = makeListParser();
  it("splits on delimiter and newlines, drops empty items, appends", () => {
    expect(list("a,,b\nc", null, env)).toEqual(["a", "b", "c"]);
    expect(list("d", ["a"], env)).toEqual(["a", "d"]);
    expect(list("", ["a"], env)).toBeNull();
    expect(list(null, null, env)).toEqual([]);
  });
  it("keeps spaces inside comma lists", () => {
    expect(list("x, y", null, env)).toEqual(["x", " y"]);
  });
  it("Include= empty is a no-op", () => {
    expect(makeListParser({ reset: false })("", ["a"], env)).toEqual(["a"]);
  });
  it("sorts packages: names, paths, conditionals", () => {
    expect(packageSort(["b", "(cond)", "/path", "a", "?exact-name(x)"])).toEqual([
      "?exact-name(x)",
      "a",
      "b",
      "/path",
      "(cond)",
    ]);
  });
  it("shell-splits quoted values", () => {
    expect(shlexSplit(`A=1 B="x y" C='z w'`, " \n")).toEqual(["A=1", "B=x y", "C=z w"]);
    expect(() => shlexSplit(`B="x`, " ")).toThrow(/No closing quotation/);
  });
});

describe("versions", () => {
  it("compares like systemd", () => {
    expect(compareVersions("123", "122")).toBeGreaterThan(0);
    expect(compareVersions("1.2.3", "1.2.3")).toBe(0);
    expect(compareVersions("1.10", "1.9")).toBeGreaterThan(0);
    expect(compareVersions("1~rc1", "1")).toBeLessThan(0);
    expect(compareVersions("1-2", "1.2")).toBeLessThan(0);
    expect(compareVersions("1a", "1")).toBeGreaterThan(0);
    expect(compareVersions("26~devel", "25")).toBeGreaterThan(0);
    expect(compareVersions("26~devel", "26")).toBeLessThan(0);
  });
  it("evaluates operators", () => {
    for (const [op, v, want] of [
      ["", "123", true],
      ["==", "122", false],
      ["!=", "122", true],
      ["<", "124", true],
      [">", "122", true],
      ["<=", "123", true],
      [">=", "124", false],
    ] as const)
      expect(versionMatches("123", `${op}${v}`)).toBe(want);
  });
});
