import { describe, expect, it } from "vitest";
import {
  compressionExtension,
  defaultCompression,
  defaultOutput,
  defaultOutputExtension,
  isOutputName,
  normalizeCompression,
  normalizeFormat,
  outputNames,
  usesOuterCompression,
} from "../../formats/naming.js";
import { FormatError, type OutputConfig } from "../../formats/types.js";

describe("compression values", () => {
  it("normalizes names, aliases and booleans like upstream's parser", () => {
    expect(normalizeCompression("zstd")).toBe("zstd");
    expect(normalizeCompression("zst")).toBe("zstd");
    expect(normalizeCompression("gzip")).toBe("gz");
    expect(normalizeCompression("gz")).toBe("gz");
    expect(normalizeCompression("xz")).toBe("xz");
    expect(normalizeCompression("lz4")).toBe("lz4");
    expect(normalizeCompression("yes")).toBe("zstd");
    expect(normalizeCompression(true)).toBe("zstd");
    expect(normalizeCompression("no")).toBe("none");
    expect(normalizeCompression("none")).toBe("none");
    expect(normalizeCompression(false)).toBe("none");
    expect(normalizeCompression(null)).toBe("none");
    expect(normalizeCompression(undefined)).toBe("none");
    expect(() => normalizeCompression("brotli")).toThrow(FormatError);
    expect(compressionExtension("zstd")).toBe("zst");
    expect(compressionExtension("gz")).toBe("gz");
    expect(compressionExtension("xz")).toBe("xz");
    expect(compressionExtension("none")).toBe("");
  });

  it("has upstream's per-format defaults", () => {
    expect(defaultCompression("tar")).toBe("zstd");
    expect(defaultCompression("cpio")).toBe("zstd");
    expect(defaultCompression("uki")).toBe("zstd");
    expect(defaultCompression("oci")).toBe("gz");
    expect(defaultCompression("disk")).toBe("none");
    expect(defaultCompression("directory")).toBe("none");
    expect(defaultOutputExtension("disk")).toBe("raw");
    expect(defaultOutputExtension("sysext")).toBe("raw");
    expect(defaultOutputExtension("esp")).toBe("raw");
    expect(defaultOutputExtension("uki")).toBe("efi");
    expect(defaultOutputExtension("addon")).toBe("efi");
    expect(defaultOutputExtension("tar")).toBe("tar");
    expect(defaultOutputExtension("cpio")).toBe("cpio");
    expect(defaultOutputExtension("directory")).toBe("");
    expect(defaultOutputExtension("oci")).toBe("");
    expect(defaultOutputExtension("none")).toBe("");
    for (const f of ["tar", "cpio", "disk", "sysext", "confext", "portable"])
      expect(usesOuterCompression(f)).toBe(true);
    for (const f of ["directory", "uki", "esp", "oci", "addon", "none"])
      expect(usesOuterCompression(f)).toBe(false);
    expect(() => normalizeFormat("iso")).toThrow(/Unknown Format=iso/);
  });

  it("derives the default Output= from the image name, ImageId= and ImageVersion=", () => {
    expect(defaultOutput({})).toBe("image");
    expect(defaultOutput({ Image: "main" })).toBe("image");
    expect(defaultOutput({ Image: "main", ImageId: "os" })).toBe("os");
    expect(defaultOutput({ Image: "main", ImageId: "os", ImageVersion: "1.2" })).toBe("os_1.2");
    expect(defaultOutput({ Image: "initrd", ImageId: "os", ImageVersion: "1.2" })).toBe("initrd_1.2");
    expect(defaultOutput({ ImageVersion: "7.8" })).toBe("image_7.8");
  });
});

describe("outputNames", () => {
  type Case = [Partial<OutputConfig> & { Format: string }, string, string];
  const matrix: Case[] = [
    [{ Format: "tar", CompressOutput: "zstd" }, "image.tar", "image.tar.zst"],
    [{ Format: "tar", CompressOutput: "xz" }, "image.tar", "image.tar.xz"],
    [{ Format: "tar", CompressOutput: "gz" }, "image.tar", "image.tar.gz"],
    [{ Format: "tar", CompressOutput: "none" }, "image.tar", "image.tar"],
    [{ Format: "cpio", CompressOutput: "zstd" }, "image.cpio", "image.cpio.zst"],
    [{ Format: "disk", CompressOutput: "none" }, "image.raw", "image.raw"],
    [{ Format: "disk", CompressOutput: "xz" }, "image.raw", "image.raw.xz"],
    [{ Format: "sysext", CompressOutput: "zstd" }, "image.raw", "image.raw.zst"],
    [{ Format: "confext", CompressOutput: "none" }, "image.raw", "image.raw"],
    [{ Format: "portable", CompressOutput: "gz" }, "image.raw", "image.raw.gz"],
    // uki/esp/oci/addon take no outer compression (the compression applies inside)
    [{ Format: "uki", CompressOutput: "zstd" }, "image.efi", "image.efi"],
    [{ Format: "esp", CompressOutput: "zstd" }, "image.raw", "image.raw"],
    [{ Format: "addon", CompressOutput: "zstd" }, "image.efi", "image.efi"],
    [{ Format: "oci", CompressOutput: "gz" }, "image", "image"],
    [{ Format: "directory", CompressOutput: "zstd" }, "image", "image"],
    [{ Format: "none" }, "image", "image"],
    // Output=, ImageId=, ImageVersion=, OutputExtension=
    [{ Format: "tar", CompressOutput: "zstd", Output: "rootfs" }, "rootfs.tar", "rootfs.tar.zst"],
    [
      { Format: "disk", CompressOutput: "xz", ImageId: "os", ImageVersion: "7.8" },
      "os_7.8.raw",
      "os_7.8.raw.xz",
    ],
    [{ Format: "disk", Output: "x", OutputExtension: "img" }, "x.img", "x.img"],
    [{ Format: "tar", Output: "x", OutputExtension: "", CompressOutput: "zstd" }, "x", "x.zst"],
    [
      { Format: "cpio", Output: "initrd", OutputExtension: "cpio", CompressOutput: "zst" },
      "initrd.cpio",
      "initrd.cpio.zst",
    ],
    [{ Format: "tar", Image: "sub", CompressOutput: true }, "sub.tar", "sub.tar.zst"],
  ];
  it.each(matrix)("%j → %s / %s", (cfg, withFormat, withCompression) => {
    const n = outputNames(cfg as OutputConfig);
    expect(n.withFormat).toBe(withFormat);
    expect(n.withCompression).toBe(withCompression);
  });

  it("names every artifact after Output=", () => {
    const n = outputNames({ Format: "disk", ImageId: "os", ImageVersion: "2", CompressOutput: "xz" });
    expect(n.output).toBe("os_2");
    expect(n).toMatchObject({
      splitUki: "os_2.efi",
      splitKernel: "os_2.vmlinuz",
      splitInitrd: "os_2.initrd",
      splitPcrs: "os_2.pcrs",
      splitRoothash: "os_2.roothash",
      splitOsRelease: "os_2.osrelease",
      splitKernelModulesInitrd: "os_2.kernel-modules-initrd",
      splitRepartDefinitions: "os_2.repart.d",
      nspawn: "os_2.nspawn",
      checksum: "os_2.SHA256SUMS",
      signature: "os_2.SHA256SUMS.gpg",
      manifest: "os_2.manifest",
      changelog: "os_2.changelog",
      tar: "os_2.tar.xz",
      efiNvramState: "os_2.efinvramstate",
      tpmState: "os_2.tpmstate",
      outerCompression: "xz",
    });
    expect(n.all).toContain("os_2.raw.xz");
    expect(n.all).toContain("os_2");
    expect(new Set(n.all).size).toBe(n.all.length);
    // the split tar takes the compression suffix even when the format has no outer compression
    expect(outputNames({ Format: "uki", CompressOutput: "zstd" }).tar).toBe("image.tar.zst");
    expect(outputNames({ Format: "uki", CompressOutput: "none" }).tar).toBe("image.tar");
  });

  it("recognizes its own names and nothing else", () => {
    const n = outputNames({ Format: "tar", Output: "img", CompressOutput: "zstd" });
    expect(isOutputName(n, "img")).toBe(true);
    expect(isOutputName(n, "img.tar.zst")).toBe(true);
    expect(isOutputName(n, "img.root-x86-64.raw")).toBe(true);
    expect(isOutputName(n, "img-notes.txt")).toBe(false);
    expect(isOutputName(n, "README")).toBe(false);
  });

  it("rejects an Output= with a slash and unknown compressions", () => {
    expect(() => outputNames({ Format: "tar", Output: "a/b" })).toThrow(FormatError);
    expect(() => outputNames({ Format: "tar", CompressOutput: "rar" })).toThrow(/Unknown compression rar/);
  });
});
