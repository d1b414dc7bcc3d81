// The pure parts of disk images and booting: which boot steps a configuration gets, mkosi's default and
// extension partition definitions, the systemd-repart command line and JSON, kernel module selection,
// extension-release files, the 2017 format names.
import { describe, expect, it } from "vitest";
import {
  bootSteps,
  imageIsInitrd,
  splitSteps,
  ukiBootPath,
  wantsBoot,
  wantsDefaultInitrd,
} from "../../formats/boot.js";
import { extensionDefinitions, extensionRelease } from "../../formats/extension.js";
import { parseModulesDep, selectModules, withDependencies } from "../../formats/kmod.js";
import { defaultOutputExtension, normalizeFormat } from "../../formats/naming.js";
import { formatOf } from "../../formats/registry.js";
import { defaultDefinitions, repartCommand } from "../../formats/repart.js";
import { parseRepartJson, rootHash } from "../../formats/repart-json.js";

describe("boot steps", () => {
  const kernel = { Packages: ["linux-image-amd64", "systemd"] };
  it("Bootable=auto boots a disk that installs a kernel package, and not one that does not", () => {
    expect(wantsBoot({ Format: "disk", Bootable: "auto", ...kernel })).toBe(true);
    expect(wantsBoot({ Format: "disk", Bootable: "auto", Packages: ["systemd"] })).toBe(false);
    expect(wantsBoot({ Format: "disk", Bootable: "enabled", Packages: [] })).toBe(true);
    expect(wantsBoot({ Format: "disk", Bootable: "disabled", ...kernel })).toBe(false);
    expect(wantsBoot({ Format: "directory", Bootable: "enabled", ...kernel })).toBe(false);
  });

  it("plans the kernel, bootloader and UKI, and the default initrd unless Initrds= is set", () => {
    const disk = { Format: "disk", Bootable: "enabled", Bootloader: "systemd-boot" };
    expect(bootSteps(disk)).toEqual(["boot-scan", "kernel", "bootloader", "repart-root", "uki"]);
    expect(bootSteps({ ...disk, Bootloader: "uki" })).toEqual(["boot-scan", "kernel", "repart-root", "uki"]);
    // shim in front of a UKI: the bootloader step installs shim, the UKI is shim's second stage.
    expect(bootSteps({ ...disk, Bootloader: "uki", ShimBootloader: "signed" })).toEqual([
      "boot-scan",
      "kernel",
      "bootloader",
      "repart-root",
      "uki",
    ]);
    expect(ukiBootPath("x86-64", "none")).toBe("EFI/BOOT/BOOTX64.EFI");
    expect(ukiBootPath("x86-64", "signed")).toBe("EFI/BOOT/grubx64.efi");
    expect(splitSteps({ ...disk, SplitArtifacts: ["pcrs", "tar", "uki"] })).toEqual(["pcrs", "uki"]);
    expect(bootSteps({ ...disk, Format: "esp" })).toEqual(["boot-scan", "kernel", "bootloader", "uki"]);
    expect(wantsDefaultInitrd(disk)).toBe(true);
    expect(wantsDefaultInitrd({ ...disk, Initrds: ["/boot/initrd.img"] })).toBe(false);
    // Format=uki and esp boot the image as its own initrd.
    expect(imageIsInitrd({ Format: "uki" })).toBe(true);
    expect(wantsDefaultInitrd({ Format: "uki" })).toBe(false);
    expect(splitSteps({ Format: "uki", SplitArtifacts: ["uki", "kernel"] })).toEqual(["main", "kernel"]);
    expect(formatOf("disk").steps({ ...disk, SplitArtifacts: ["uki"] })).toEqual([
      "boot-scan",
      "kernel",
      "bootloader",
      "repart-root",
      "uki",
      "split",
      "repart",
      "publish",
    ]);
  });

  it("makes the UKIs wait for the first repart pass when their command line names the disk's partitions", () => {
    const disk = { Format: "disk", Bootable: "enabled", Bootloader: "systemd-boot" };
    const twoPass = ["boot-scan", "kernel", "bootloader", "repart-root", "roothash", "uki"];
    // root=PARTUUID and mount.usr=PARTUUID get the partition's UUID (the spec's KernelCommandLine=).
    expect(bootSteps({ ...disk, KernelCommandLine: ["quiet root=PARTUUID rw"] })).toEqual(twoPass);
    expect(bootSteps({ ...disk, KernelCommandLine: ["mount.usr=PARTUUID"] })).toEqual(twoPass);
    expect(bootSteps({ ...disk, KernelCommandLine: ["root=PARTUUID=1234"] })).not.toContain("roothash");
    // grub loading kernels names the root: for BIOS always, on EFI when there are no UKIs.
    expect(bootSteps({ ...disk, BiosBootloader: "grub" })).toEqual(twoPass);
    expect(bootSteps({ ...disk, Bootloader: "grub", UnifiedKernelImages: "disabled" })).toEqual(twoPass);
    expect(bootSteps({ ...disk, Bootloader: "grub" })).toEqual([
      "boot-scan",
      "kernel",
      "bootloader",
      "repart-root",
      "uki",
    ]);
  });
});

describe("grub.cfg", () => {
  it("chainloads the UKI on EFI and loads kernel and initrds on BIOS", async () => {
    const { grubConfig } = await import("../../tasks/grub.js");
    const linux = {
      kernel: "t/6.1/linux",
      initrds: ["t/6.1/initrd0", "t/6.1/initrd1"],
      cmdline: "quiet root=PARTUUID=x",
    };
    expect(grubConfig([{ title: "Debian's (6.1)", uki: "EFI/Linux/t-6.1.efi", linux }])).toBe(
      [
        "set default=0",
        "set timeout=3",
        "",
        "menuentry 'Debian'\\''s (6.1)' {",
        '    if [ "$grub_platform" = "efi" ]; then',
        "        chainloader /EFI/Linux/t-6.1.efi",
        "    else",
        "        linux /t/6.1/linux quiet root=PARTUUID=x",
        "        initrd /t/6.1/initrd0 /t/6.1/initrd1",
        "    fi",
        "}",
        "",
      ].join("\n"),
    );
    expect(grubConfig([{ title: "a", uki: "EFI/Linux/a.efi" }])).toContain(
      "{\n    chainloader /EFI/Linux/a.efi\n}",
    );
    expect(grubConfig([{ title: "a", linux }])).toContain(
      "{\n    linux /t/6.1/linux quiet root=PARTUUID=x\n    initrd /t/6.1/initrd0 /t/6.1/initrd1\n}",
    );
  });
});

describe("systemd-repart", () => {
  it("has mkosi's default definitions: ESP when bootable, BIOS boot for grub, the root without /efi", () => {
    expect(Object.keys(defaultDefinitions({ rootFilesystem: "ext4", esp: false, biosBoot: false }))).toEqual([
      "10-root.conf",
    ]);
    const all = defaultDefinitions({ rootFilesystem: "btrfs", esp: true, biosBoot: true });
    expect(Object.keys(all)).toEqual(["00-esp.conf", "05-bios.conf", "10-root.conf"]);
    expect(all["00-esp.conf"]).toContain("SizeMinBytes=1G");
    expect(all["00-esp.conf"]).toContain("CopyFiles=/boot:/\nCopyFiles=/efi:/");
    expect(all["05-bios.conf"]).toContain("Type=21686148-6449-6e6f-744e-656564454649");
    expect(all["10-root.conf"]).toMatch(/Format=btrfs\nCopyFiles=\/\nExcludeFiles=\/efi\//);
  });

  it("builds the command line and reads its JSON", () => {
    expect(
      repartCommand({
        root: "/buildroot",
        definitions: ["/d"],
        output: "/o.raw",
        seed: "s",
        empty: "create",
        sectorSize: 4096,
        split: true,
        deferPartitions: ["esp"],
      }),
    ).toEqual([
      "systemd-repart",
      "--empty=create",
      "--size=auto",
      "--dry-run=no",
      "--json=pretty",
      "--no-pager",
      "--offline=yes",
      "--root=/buildroot",
      "--seed=s",
      "--sector-size=4096",
      "--split=yes",
      "--defer-partitions=esp",
      "--definitions=/d",
      "/o.raw",
    ]);
    const parts = parseRepartJson(
      JSON.stringify([
        { type: "esp", label: "esp", partno: null, activity: "defer" },
        { type: "root-x86-64", uuid: "u1", partno: 1, roothash: "ab12" },
        { type: "root-x86-64-verity", uuid: "u2", partno: 2, roothash: "TBD" },
      ]),
    );
    expect(parts[0]).toMatchObject({ type: "esp", uuid: "", partno: -1 });
    expect(rootHash(parts)).toEqual({ kind: "roothash", hash: "ab12" });
    expect(() => parseRepartJson("{")).toThrow(/no valid JSON/);
  });

  it("has the extension definitions: erofs, verity hash and signature when signed", () => {
    const signed = extensionDefinitions("sysext", { hash: true, signed: true });
    expect(Object.keys(signed)).toEqual(["10-root.conf", "20-root-verity.conf", "30-root-verity-sig.conf"]);
    expect(signed["10-root.conf"]).toMatch(/Format=erofs\nCopyFiles=\/usr\/\nCopyFiles=\/opt\//);
    expect(Object.keys(extensionDefinitions("confext", { hash: false, signed: false }))).toEqual([
      "10-root.conf",
    ]);
  });

  it("writes extension-release files from the image's os-release", () => {
    expect(
      extensionRelease("sysext", {
        osRelease: 'ID=debian\nVERSION_ID="12"\n',
        imageId: "ext",
        imageVersion: "1",
        architecture: "x86-64",
      }),
    ).toBe(
      "ID=debian\nVERSION_ID=12\nSYSEXT_ID=ext\nSYSEXT_VERSION_ID=1\nSYSEXT_SCOPE=initrd system portable\nARCHITECTURE=x86-64\n",
    );
    expect(
      extensionRelease("confext", {
        osRelease: "",
        imageId: null,
        imageVersion: null,
        architecture: "arm64",
      }),
    ).toBe("ID=_any\nCONFEXT_SCOPE=initrd system portable\nARCHITECTURE=arm64\n");
  });
});

describe("kernel modules", () => {
  const modules = [
    "kernel/drivers/block/loop.ko",
    "kernel/drivers/block/virtio_blk.ko.xz",
    "kernel/fs/nls/nls_utf8.ko",
    "kernel/fs/ext4/ext4.ko",
    "kernel/crypto/sha256_generic.ko",
    "kernel/drivers/net/dummy.ko",
  ];
  it("keeps every module without patterns and applies them in order, the last match deciding", () => {
    expect(selectModules(modules, [])).toHaveLength(6);
    expect(selectModules(modules, ["loop", "virtio-blk"])).toEqual([
      "kernel/drivers/block/loop.ko",
      "kernel/drivers/block/virtio_blk.ko.xz",
    ]);
    expect(selectModules(modules, ["/fs/nls/", "crypto/"])).toEqual([
      "kernel/crypto/sha256_generic.ko",
      "kernel/fs/nls/nls_utf8.ko",
    ]);
    expect(selectModules(modules, ["block/*", "-loop"])).toEqual(["kernel/drivers/block/virtio_blk.ko.xz"]);
    expect(selectModules(modules, ["default"], ["ext4"])).toEqual(["kernel/fs/ext4/ext4.ko"]);
    expect(selectModules(modules, ["re:net/"])).toEqual(["kernel/drivers/net/dummy.ko"]);
  });

  it("adds dependencies from modules.dep", () => {
    const deps = parseModulesDep(
      "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko\nkernel/fs/mbcache.ko:\n",
    );
    expect(withDependencies(["kernel/fs/ext4/ext4.ko"], deps)).toEqual([
      "kernel/fs/ext4/ext4.ko",
      "kernel/fs/mbcache.ko",
      "kernel/lib/crc16.ko",
    ]);
  });
});

describe("the 2017 README's format names", () => {
  it("plan the equivalent disk or directory", () => {
    expect(normalizeFormat("raw_btrfs")).toBe("disk");
    expect(formatOf("raw_btrfs").rootFilesystem).toBe("btrfs");
    expect(formatOf("raw_squashfs").rootFilesystem).toBe("squashfs");
    expect(defaultOutputExtension("raw_xfs")).toBe("raw");
    expect(normalizeFormat("subvolume")).toBe("directory");
    expect(() => normalizeFormat("raw_gpt")).toThrow(/Unknown Format=raw_gpt/);
  });
});
