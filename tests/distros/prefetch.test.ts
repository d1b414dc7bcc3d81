// The parsing and balancing behind apt's parallel downloads (distros/pm/apt/prefetch.ts); the downloads
// themselves are exercised by tests/distros/debian.test.ts against the real mirror.
import { describe, expect, it } from "vitest";
import { balance, downloadSpec, parsePrintUris } from "../../distros/pm/apt/prefetch.js";

describe("apt prefetch", () => {
  it("reads apt-get --print-uris output, ignoring everything else", () => {
    const out = [
      "Reading package lists...",
      "Building dependency tree...",
      "'http://deb.debian.org/debian/pool/main/l/llvm-toolchain-15/libllvm15_1%3a15.0.6-4%2bb1_amd64.deb' libllvm15_1%3a15.0.6-4+b1_amd64.deb 23543124 SHA256:0f00",
      "'file:/repository/hello_1.0_all.deb' hello_1.0_all.deb 1000 ",
      "0 upgraded, 2 newly installed, 0 to remove and 0 not upgraded.",
    ].join("\n");
    expect(parsePrintUris(out)).toEqual([
      {
        uri: "http://deb.debian.org/debian/pool/main/l/llvm-toolchain-15/libllvm15_1%3a15.0.6-4%2bb1_amd64.deb",
        file: "libllvm15_1%3a15.0.6-4+b1_amd64.deb",
        size: 23543124,
      },
      { uri: "file:/repository/hello_1.0_all.deb", file: "hello_1.0_all.deb", size: 1000 },
    ]);
  });

  it("names the package version to download, with the architecture only when foreign", () => {
    expect(downloadSpec("libllvm15_1%3a15.0.6-4+b1_amd64.deb", "amd64")).toBe("libllvm15=1:15.0.6-4+b1");
    expect(downloadSpec("tzdata_2024a-0+deb12u1_all.deb", "amd64")).toBe("tzdata=2024a-0+deb12u1");
    expect(downloadSpec("libc6_2.36-9_i386.deb", "amd64")).toBe("libc6:i386=2.36-9");
    expect(downloadSpec("not-a-deb.txt", "amd64")).toBeUndefined();
  });

  it("splits the downloads into groups of similar size", () => {
    const items = [50, 40, 30, 20, 10, 5, 5].map((size, i) => ({ uri: `u${i}`, file: `f${i}`, size }));
    const groups = balance(items, 3);
    expect(groups).toHaveLength(3);
    expect(
      groups
        .flat()
        .map((d) => d.file)
        .sort(),
    ).toEqual(items.map((d) => d.file).sort());
    const totals = groups.map((g) => g.reduce((s, d) => s + d.size, 0));
    expect(Math.max(...totals) - Math.min(...totals)).toBeLessThanOrEqual(10);
    expect(balance(items.slice(0, 2), 4)).toHaveLength(2);
  });
});
