import { describe, expect, it } from "vitest";
import { canonical, digestOf, EncodingError } from "../../engine/index.js";

describe("canonical encoding", () => {
  it("ignores key order at every depth", () => {
    const a = { b: 1, a: { y: [1, 2], x: null } };
    const b = { a: { x: null, y: [1, 2] }, b: 1 };
    expect(canonical(a)).toBe(canonical(b));
    expect(digestOf(a)).toBe(digestOf(b));
    expect(digestOf(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("keeps types apart", () => {
    const values = [
      1,
      "1",
      true,
      "true",
      null,
      "null",
      [],
      {},
      [1],
      { 0: 1 },
      [[]],
      [null],
      "",
      0,
      [""],
      { a: "" },
    ];
    const enc = values.map((v) => canonical(v));
    expect(new Set(enc).size).toBe(values.length);
  });

  it("keeps array order, nesting and boundaries", () => {
    expect(canonical([1, 2])).not.toBe(canonical([2, 1]));
    expect(canonical(["a", "bc"])).not.toBe(canonical(["ab", "c"]));
    expect(canonical({ a: "b=c" })).not.toBe(canonical({ "a=b": "c" }));
    expect(canonical([[1], 2])).not.toBe(canonical([1, [2]]));
  });

  it("distinguishes lone surrogates from the replacement character", () => {
    expect(canonical("\ud800")).not.toBe(canonical("\ufffd"));
  });

  it("normalizes -0 and drops undefined members", () => {
    expect(canonical(-0)).toBe(canonical(0));
    expect(canonical({ a: 1, b: undefined })).toBe(canonical({ a: 1 }));
  });

  it("rejects what is not plain JSON data, naming where", () => {
    expect(() => canonical({ a: [1, Number.NaN] })).toThrow(/non-finite number NaN at a\[1\]/);
    expect(() => canonical({ when: new Date() })).toThrow(EncodingError);
    expect(() => canonical({ m: new Map() })).toThrow(/not plain data \(Map\) at m/);
    expect(() => canonical([undefined])).toThrow(/unsupported undefined at \[0\]/);
    expect(() => canonical(10n)).toThrow(/bigint/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonical(cyclic)).toThrow(/cyclic/);
  });

  it("encodes a shared (non-cyclic) object twice", () => {
    const shared = { x: 1 };
    expect(canonical({ a: shared, b: shared })).toBe(canonical({ a: { x: 1 }, b: { x: 1 } }));
  });
});

describe("canonical encoding, fast and careful paths", () => {
  it("agree on the encoding", async () => {
    const { canonical: c } = await import("../../engine/encoding.js");
    const v = {
      z: [1, -0, 2.5, 1e21, "x\u2028\ud800"],
      a: { b: null, c: true, d: false, e: {} },
      u: undefined,
    };
    expect(c(v)).toBe('{2:"a"={4:"b"=N"c"=T"d"=F"e"={0:}}"z"=[5:d1;d0;d2.5;d1e+21;s"x\u2028\\ud800"]}');
  });
  it("rejects absurd nesting", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 600; i++) deep = [deep];
    expect(() => canonical(deep)).toThrow(/nested deeper/);
  });
});
