// Bootloader=grub with ShimBootloader=unsigned and BiosBootloader=grub: a trixie disk (sharing the bootable
// disk test's default initrd) that boots on both firmwares. On UEFI its ESP boots shim, which loads grub
// (grub-mkimage of the image's grub-efi-amd64-bin modules), whose grub.cfg chainloads the UKI; on BIOS the
// MBR's boot.img loads grub's core image (grub-pc-bin's modules) from the BIOS boot partition, and the same
// grub.cfg loads the kernel and initrds with root=PARTUUID of the root partition. It boots to multi-user
// under qemu with OVMF through shim and grub, and with SeaBIOS through grub.
import { closeSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build, buildFails, diskTree, graph, join, ran, TYPE, takeDiskTurn } from "./harness.js";
import { gpt, peSections, vfatList, vfatRead } from "./inspect.js";
import { bootBios, bootReportFiles, bootUefi, enableBootReport } from "./qemu.js";

const CONF = `[Output]
Format=disk
ImageId=grubby

[Content]
Packages=linux-image-amd64
         systemd
         systemd-boot-efi
         grub-efi-amd64-bin
         grub-pc-bin
         shim-unsigned
         udev
Bootable=yes
Bootloader=grub
BiosBootloader=grub
ShimBootloader=unsigned
KernelInitrdModules=default
KernelCommandLine=console=ttyS0 systemd.firstboot=no`;

function readRange(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, "r");
  try {
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, offset);
    return buffer;
  } finally {
    closeSync(fd);
  }
}

/** The trixie disk of `conf` (named `<imageId>.raw`) for one describe block, which holds the disk turn
 * while its tests run, with a scratch directory for files copied out of its ESP. */
function grubDisk(conf: string, imageId: string, marker: string) {
  let dir = "";
  let scratch = "";
  let release = () => {};
  beforeAll(async () => {
    release = await takeDiskTurn();
    dir = await diskTree(conf, bootReportFiles(marker), "trixie");
    enableBootReport(dir);
    scratch = await mkdtemp(join(tmpdir(), `mkosi-${imageId}-`));
  }, 3_600_000);
  afterAll(() => {
    for (const d of [dir, scratch]) if (d) rmSync(d, { recursive: true, force: true });
    release();
  });
  const image = () => join(dir, `${imageId}.raw`);
  const espOffset = () => {
    const table = gpt(image());
    return table.partitions.find((p) => p.type === TYPE.esp)!.start * table.sectorSize;
  };
  return {
    dir: () => dir,
    scratch: () => scratch,
    image,
    espOffset,
    /** A file of the ESP copied out: its path. */
    espFile(path: string): string {
      const file = join(scratch, path.replaceAll("/", "_"));
      vfatRead(image(), espOffset(), path, file);
      return file;
    },
  };
}

describe("Bootloader=grub, BiosBootloader=grub", () => {
  const disk = grubDisk(CONF, "grubby", "MKOSI-GRUB-BOOT-OK");
  const image = disk.image;

  it("has shim loading grub, with a menu entry chainloading the UKI", async () => {
    await build(disk.dir());
    const table = gpt(image());
    const offset = disk.espOffset();
    // shim (its SBAT entry) as the firmware's default loader, MokManager beside it, and
    // grub-mkimage's EFI image (its modules in a "mods" section) where shim looks for its second stage.
    const read = disk.espFile;
    expect(peSections(read("/EFI/BOOT/BOOTX64.EFI")).get(".sbat")!.toString("utf8")).toMatch(/^shim,/m);
    expect(vfatList(image(), offset, "/EFI/BOOT")).toContain("/EFI/BOOT/mmx64.efi");
    expect(peSections(read("/EFI/BOOT/grubx64.efi")).has("mods")).toBe(true);
    // No systemd-boot: /loader holds only what the image's /boot has (entries.srel), as upstream's.
    expect(vfatList(image(), offset, "/EFI")).not.toContain("/EFI/systemd");
    expect(vfatList(image(), offset, "/loader")).toEqual(["/loader/entries.srel"]);
    expect(vfatList(image(), offset, "/grub/x86_64-efi")).toContain("/grub/x86_64-efi/normal.mod");
    const ukis = vfatList(image(), offset, "/EFI/Linux");
    expect(ukis).toHaveLength(1);
    const menu = readFileSync(read("/grub/grub.cfg"), "utf8");
    expect(menu).toMatch(/^menuentry 'Debian GNU\/Linux 13 \(trixie\) \([^)]+\)' \{$/m);
    // UEFI chainloads the UKI; BIOS loads the kernel and initrds copied beside it, naming the root.
    const root = table.partitions.find((p) => p.type === TYPE.root)!;
    expect(menu).toMatch(
      new RegExp(
        `\n    if \\[ "\\$grub_platform" = "efi" \\]; then\n        chainloader ${ukis[0]!.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\n    else\n` +
          `        linux /grubby/[^/]+/linux console=ttyS0 systemd.firstboot=no root=PARTUUID=${root.uuid}\n` +
          "        initrd( /grubby/[^/]+/initrd\\d)+\n    fi\n}\n",
        "i",
      ),
    );
    expect(readFileSync(read("/EFI/debian/grub.cfg"), "utf8")).toContain("configfile ($root)/grub/grub.cfg");
  }, 2_400_000);

  it("has grub's boot.img in the MBR and its core image in the BIOS boot partition", () => {
    const table = gpt(image());
    const bios = table.partitions.find((p) => p.type === TYPE.biosBoot)!;
    expect(bios).toBeDefined();
    // boot.img's messages and the MBR's boot signature; core.img in the BIOS boot partition.
    const mbr = readRange(image(), 0, 512);
    expect(mbr.subarray(0, 440).toString("latin1")).toContain("GRUB \0Geom\0Hard Disk\0Read\0 Error");
    expect(mbr.readUInt16LE(510)).toBe(0xaa55);
    const core = readRange(image(), bios.start * table.sectorSize, bios.size * table.sectorSize);
    expect(core.some((b) => b !== 0)).toBe(true);
    const esp = table.partitions.find((p) => p.type === TYPE.esp)!;
    expect(vfatList(image(), esp.start * table.sectorSize, "/grub/i386-pc")).toContain(
      "/grub/i386-pc/normal.mod",
    );
  });

  // Both boots at once (each guest has one vCPU; the disk is opened with snapshot=on): CI time.
  it("boots through shim and grub on OVMF, and through grub on SeaBIOS, to multi-user and powers off", async () => {
    const [uefi, bios] = await Promise.all([
      bootUefi(image(), disk.scratch(), "MKOSI-GRUB-BOOT-OK", 900_000),
      bootBios(image(), "MKOSI-GRUB-BOOT-OK", 900_000),
    ]);
    expect(uefi).toContain("MKOSI-GRUB-BOOT-OK");
    expect(bios).toContain("MKOSI-GRUB-BOOT-OK");
  }, 1_000_000);
});

// Bootloader=grub-signed with ShimBootloader=signed: Debian's signed shim and signed grub as they are
// (grub-efi-amd64-signed's monolithic image, no modules beside it), which reads EFI/debian/grub.cfg; that
// loads the same menu. The signed boot loaders take the distribution's pre-built UKIs, which Debian has
// none of: UnifiedKernelImages=no, so grub loads the kernel and the initrds itself. It boots on OVMF
// (without SecureBoot: the firmware here has no Microsoft keys enrolled).
const SIGNED_CONF = `[Output]
Format=disk
ImageId=signedgrub

[Content]
Packages=linux-image-amd64
         systemd
         systemd-boot-efi
         grub-efi-amd64-signed
         shim-signed
         udev
Bootable=yes
Bootloader=grub-signed
ShimBootloader=signed
UnifiedKernelImages=no
KernelInitrdModules=default
KernelCommandLine=console=ttyS0 systemd.firstboot=no`;

describe("Bootloader=grub-signed, ShimBootloader=signed", () => {
  const disk = grubDisk(SIGNED_CONF, "signedgrub", "MKOSI-SIGNED-GRUB-BOOT-OK");
  const image = disk.image;

  it("has the distribution's signed shim and grub, and grub's configuration where signed grub reads it", async () => {
    await build(disk.dir());
    const offset = disk.espOffset();
    const read = (path: string) => readFileSync(disk.espFile(path));
    const sections = (path: string) => peSections(disk.espFile(path));
    // The distribution's signed binaries, their Authenticode signatures intact.
    expect(sections("/EFI/BOOT/BOOTX64.EFI").get(".sbat")!.toString("utf8")).toMatch(/^shim,/m);
    expect(sections("/EFI/BOOT/grubx64.efi").get(".sbat")!.toString("utf8")).toMatch(/^grub\.debian,/m);
    expect(signatureSize(read("/EFI/BOOT/grubx64.efi"))).toBeGreaterThan(0);
    expect(signatureSize(read("/EFI/BOOT/BOOTX64.EFI"))).toBeGreaterThan(0);
    // No grub-mkimage modules: the signed image has them built in.
    // (mdir lists one directory: look into /grub itself.)
    expect(vfatList(image(), offset, "/grub")).not.toContain("/grub/x86_64-efi");
    expect(vfatList(image(), offset, "/grub")).toContain("/grub/grub.cfg");
    expect(read("/EFI/debian/grub.cfg").toString("utf8")).toContain("configfile ($root)/grub/grub.cfg");
    // No UKI: grub loads the kernel and the initrds, with the root partition on the command line.
    expect(vfatList(image(), offset, "/EFI")).not.toContain("/EFI/Linux");
    const menu = read("/grub/grub.cfg").toString("utf8");
    expect(menu).toMatch(/^\s*linux \S+ .*root=PARTUUID=/m);
    expect(menu).toMatch(/^\s*initrd /m);
    expect(menu).not.toContain("chainloader");
  }, 2_400_000);

  it("boots through signed shim and signed grub under qemu with OVMF to multi-user and powers off", async () => {
    const console = await bootUefi(image(), disk.scratch(), "MKOSI-SIGNED-GRUB-BOOT-OK", 900_000);
    expect(console).toContain("MKOSI-SIGNED-GRUB-BOOT-OK");
  }, 1_000_000);

  // Bootloader=uki behind shim: the UKI is shim's second stage (grubx64.efi), as upstream places it.
  it("Bootloader=uki behind the signed shim: the UKI is shim's second stage, and it boots on OVMF", async () => {
    const run = await build(disk.dir(), ["--bootloader=uki"]);
    const main = ran(run);
    expect(main).toEqual(expect.arrayContaining(["bootloader", "uki", "repart", "publish"]));
    for (const step of ["packages", "kernel", "repart-root"]) expect(main).not.toContain(step);
    const sections = (path: string) => peSections(disk.espFile(path));
    expect(sections("/EFI/BOOT/BOOTX64.EFI").get(".sbat")!.toString("utf8")).toMatch(/^shim,/m);
    const uki = sections("/EFI/BOOT/grubx64.efi");
    expect([...uki.keys()]).toEqual(expect.arrayContaining([".linux", ".initrd", ".cmdline"]));
    expect(uki.get(".cmdline")!.toString("utf8")).toContain("console=ttyS0");
    const files = vfatList(image(), disk.espOffset(), "/EFI/BOOT");
    expect(files).toContain("/EFI/BOOT/mmx64.efi");
    // Neither grub nor a UKI under EFI/Linux: shim loads the UKI itself.
    expect(vfatList(image(), disk.espOffset(), "/EFI")).toEqual(["/EFI/BOOT"]);
    const console = await bootUefi(image(), disk.scratch(), "MKOSI-SIGNED-GRUB-BOOT-OK", 900_000);
    expect(console).toContain("MKOSI-SIGNED-GRUB-BOOT-OK");
  }, 2_000_000);

  // Bootloader=uki-signed: the distribution's pre-built UKI (/usr/lib/modules/<kver>/*.efi), as upstream
  // takes it; none is built, and there is no default initrd. Debian ships none: without one the build
  // fails naming the path; then a finalize script puts one there (ukify from the tools tree, with a
  // stand-in initrd), as a distribution's kernel package would.
  it("Bootloader=uki-signed fails without a pre-built UKI in the image, naming where it looks", async () => {
    const stderr = await buildFails(disk.dir(), ["--bootloader=uki-signed", "--unified-kernel-images=auto"]);
    expect(stderr).toMatch(
      /Bootloader=uki-signed: no signed UKI in the image at \/usr\/lib\/modules\/\S+\/\*\.efi/,
    );
  }, 1_200_000);

  it("Bootloader=uki-signed installs the pre-built UKI as shim's second stage and splits its kernel and initrd", async () => {
    writeFileSync(
      join(disk.dir(), "mkosi.finalize"),
      `#!/bin/sh
set -e
for d in "$BUILDROOT"/usr/lib/modules/*; do
  kver="$(basename "$d")"
  printf 'prebuilt initrd\\n' > /tmp/initrd
  ukify build --linux="$BUILDROOT/boot/vmlinuz-$kver" --initrd=/tmp/initrd --cmdline=prebuilt-uki \\
    --uname="$kver" --output="$d/vmlinuz-virt.efi"
done
`,
      { mode: 0o755 },
    );
    const args = [
      "--bootloader=uki-signed",
      "--unified-kernel-images=auto",
      "--split-artifacts=uki,kernel,initrd",
    ];
    await build(disk.dir(), args);
    // No default initrd is planned for it.
    expect(Object.keys(await graph(disk.dir(), args)).filter((id) => id.startsWith("initrd"))).toEqual([]);
    const prebuilt = peSections(disk.espFile("/EFI/BOOT/grubx64.efi"));
    expect(prebuilt.get(".cmdline")!.toString("utf8")).toContain("prebuilt-uki");
    expect(readFileSync(join(disk.dir(), "signedgrub.efi"))).toEqual(
      readFileSync(disk.espFile("/EFI/BOOT/grubx64.efi")),
    );
    expect(readFileSync(join(disk.dir(), "signedgrub.initrd"), "utf8")).toBe("prebuilt initrd\n");
    expect(readFileSync(join(disk.dir(), "signedgrub.vmlinuz"))).toEqual(prebuilt.get(".linux"));
    expect(vfatList(image(), disk.espOffset(), "/EFI/BOOT")).toContain("/EFI/BOOT/BOOTX64.EFI");
  }, 1_200_000);
});

/** The size of a PE file's Authenticode signature (its certificate table), 0 when unsigned. */
function signatureSize(pe: Buffer): number {
  const header = pe.readUInt32LE(0x3c);
  const optional = header + 24;
  const magic = pe.readUInt16LE(optional);
  // The certificate table is data directory 4; the directories start at 96 (PE32) or 112 (PE32+).
  const directories = optional + (magic === 0x20b ? 112 : 96);
  return pe.readUInt32LE(directories + 4 * 8 + 4);
}
