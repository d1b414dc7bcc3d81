import { describe, expect, it } from "vitest";
import { dedent, parseIni } from "../../config/ini.js";

describe("ini syntax", () => {
  it("parses sections and keys", () => {
    const s = parseIni("[Output]\nImageId=x\nFormat=tar\n", "f");
    expect(s).toHaveLength(1);
    expect(s[0]?.name).toBe("Output");
    expect(s[0]?.entries.map((e) => [e.key, e.value, e.line])).toEqual([
      ["ImageId", "x", 2],
      ["Format", "tar", 3],
    ]);
  });
  it("treats # as a comment anywhere", () => {
    const s = parseIni("[Build]\nEnvironment=FOO=a#b\n# full line\n", "f");
    expect(s[0]?.entries[0]?.value).toBe("FOO=a");
  });
  it("does not treat ; as a comment", () => {
    expect(parseIni("[A]\nK=a;b\n", "f")[0]?.entries[0]?.value).toBe("a;b");
  });
  it("joins continuation lines, skipping blank and comment lines", () => {
    const s = parseIni("[Content]\nPackages=a\n  b\n\n  # c\n  d\nOther=x\n", "f");
    expect(s[0]?.entries[0]?.value).toBe("a\nb\nd");
    expect(s[0]?.entries[1]?.key).toBe("Other");
  });
  it("keeps the value after the first =", () => {
    expect(parseIni("[O]\nImageId=x=y\n", "f")[0]?.entries[0]?.value).toBe("x=y");
  });
  it("strips keys and values", () => {
    expect(parseIni("[O]\n  ImageId =  x  \n", "f")[0]?.entries[0]).toMatchObject({
      key: "ImageId",
      value: "x",
    });
  });
  it("dedents the whole file", () => {
    expect(dedent("  [A]\n  K=v\n")).toBe("[A]\nK=v\n");
    expect(parseIni("    [A]\n    K=v\n", "f")[0]?.entries[0]?.value).toBe("v");
  });
  it("allows repeated keys and empty values", () => {
    const s = parseIni("[A]\nK=1\nK=\nK=2\n", "f");
    expect(s[0]?.entries.map((e) => e.value)).toEqual(["1", "", "2"]);
  });
  it("rejects malformed lines", () => {
    expect(() => parseIni("[Output\n", "f")).toThrow(/is not a valid section/);
    expect(() => parseIni("[]\n", "f")).toThrow(/Section name cannot be empty/);
    expect(() => parseIni("K=v\n", "f")).toThrow(/outside of section/);
    expect(() => parseIni("[A]\nnovalue\n", "f")).toThrow(/must be followed by '='/);
    expect(() => parseIni("[A]\n=x\n", "f")).toThrow(/Missing setting name/);
  });
  it("reports file and line", () => {
    try {
      parseIni("[A]\nK=v\nbad\n", "/x/mkosi.conf");
      expect.unreachable();
    } catch (e) {
      expect((e as { where: string }).where).toBe("/x/mkosi.conf:3");
    }
  });
  it("skips unchecked lines in sections that are not parsed", () => {
    const s = parseIni("[Whatever]\nno equals\n[Output]\nImageId=x\n", "f", new Set(["Output"]));
    expect(s.find((x) => x.name === "Output")?.entries[0]?.value).toBe("x");
  });
});
