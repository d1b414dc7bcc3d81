// The image configuration check comes from the settings table (its type too: the static checks at
// the end of config/image.ts, compiled with the sources).
import { describe, expect, it } from "vitest";
import { checkImageConfig, imageConfigProblems } from "../../config/image.js";
import { conf } from "./helpers.js";

describe("ImageConfig", () => {
  it("checks a loaded configuration and names what does not fit", () => {
    const c = conf("[Content]\nPackages=a\n[Output]\nImageId=x\n");
    expect(imageConfigProblems(c)).toEqual([]);
    expect(checkImageConfig(c)).toBe(c);
    const bad = { ...c, Packages: "a", ImageId: 3, Bootable: "maybe", Files: undefined };
    expect(imageConfigProblems(bad)).toEqual([
      "ImageId: expected string or null, got 3",
      'Packages: expected list of string, got "a"',
      'Bootable: expected enabled|disabled|auto, got "maybe"',
      "Files: expected list of string, got undefined",
    ]);
    expect(() => checkImageConfig(bad, "the configure script's output")).toThrow(
      "the configure script's output is not a valid image configuration: ImageId",
    );
  });
});
