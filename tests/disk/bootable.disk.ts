// A bootable trixie disk (linux-image-amd64, systemd-boot-efi; trixie's systemd 257 for the addon stub and
// multi-profile UKIs): the ESP holds systemd-boot and a UKI
// whose sections hold the kernel, the initrd (the default initrd, an image of the graph, and the
// kernel-modules initrd) and the command line; it boots under qemu with OVMF to multi-user and powers
// off. Then what reruns: an extra file reruns repart (the kernel, initrd, UKI and bootloader stay
// cached); KernelCommandLine= reruns the UKI and repart (the initrd stays cached); a kernel package change
// reruns everything from the packages on.
import { execFileSync } from "node:child_process";
import { createHash, randomUUID, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  build,
  buildFails,
  diskTree,
  forgetImages,
  graph,
  join,
  ran,
  TYPE,
  takeDiskTurn,
} from "./harness.js";
import { gpt, peSectionList, peSections, vfatList, vfatRead } from "./inspect.js";
import { bootReportFiles, bootUefi, enableBootReport } from "./qemu.js";

const conf = (cmdline: string, kernel = "linux-image-amd64") => `[Output]
Format=disk
ImageId=boot
Seed=0e9a6fe0-68f6-408c-bbeb-136054d87ffe

[Content]
Packages=${kernel}
         systemd
         systemd-boot-efi
         udev
Bootable=yes
SourceDateEpoch=1700000000
KernelInitrdModules=default
KernelCommandLine=${cmdline}`;

describe("bootable disk", () => {
  let dir = "";
  let scratch = "";
  const image = () => join(dir, "boot.raw");
  const espOffset = () => {
    const table = gpt(image());
    const esp = table.partitions.find((p) => p.type === TYPE.esp)!;
    return esp.start * table.sectorSize;
  };

  let release = () => {};
  beforeAll(async () => {
    release = await takeDiskTurn();
    dir = await diskTree(
      conf("console=ttyS0 systemd.firstboot=no systemd.show_status=1"),
      {
        ...bootReportFiles("MKOSI-BOOT-OK"),
        "mkosi.extra/etc/motd": "first\n",
      },
      "trixie",
    );
    enableBootReport(dir);
    scratch = await mkdtemp(join(tmpdir(), "mkosi-boot-"));
  }, 3_600_000);
  afterAll(() => {
    for (const d of [dir, scratch]) if (d) rmSync(d, { recursive: true, force: true });
    release();
  });

  it("has an ESP with systemd-boot and a UKI of kernel, initrd and command line", async () => {
    await build(dir);
    const table = gpt(image());
    expect(table.partitions.map((p) => p.type)).toEqual([TYPE.esp, TYPE.root]);
    const offset = espOffset();
    expect(vfatList(image(), offset, "/EFI/BOOT")).toContain("/EFI/BOOT/BOOTX64.EFI");
    expect(vfatList(image(), offset, "/EFI/systemd")).toContain("/EFI/systemd/systemd-bootx64.efi");
    const ukis = vfatList(image(), offset, "/EFI/Linux");
    expect(ukis).toHaveLength(1);
    expect(ukis[0]).toMatch(/^\/EFI\/Linux\/boot-6\.\d+\.\d+\+deb13-amd64\.efi$/);
    // The image's /boot is in the ESP too (upstream's default ESP definition copies it): Debian's kernel.
    expect(vfatList(image(), offset, "/").some((f) => /^\/vmlinuz-6\./.test(f))).toBe(true);
    const uki = join(scratch, "uki.efi");
    vfatRead(image(), offset, ukis[0]!, uki);
    const sections = peSections(uki);
    for (const name of [".linux", ".initrd", ".cmdline", ".osrel", ".uname"])
      expect(sections.has(name)).toBe(true);
    expect(sections.get(".cmdline")!.toString("utf8")).toContain("console=ttyS0");
    expect(sections.get(".osrel")!.toString("utf8")).toMatch(/VERSION_CODENAME=trixie/);
    // The kernel is the image's, the initrd starts with the default initrd (zstd) and is large enough to
    // hold the initrd image and the kernel modules.
    expect(sections.get(".linux")!.equals(readFileSync(join(dir, "boot.vmlinuz")))).toBe(true);
    expect(sections.get(".initrd")!.length).toBeGreaterThan(10_000_000);
    expect(sections.get(".initrd")!.subarray(0, 4).toString("hex")).toBe("28b52ffd");
    // Split artifacts (the default SplitArtifacts=uki,kernel,initrd).
    expect(readFileSync(join(dir, "boot.efi")).equals(readFileSync(uki))).toBe(true);
  }, 2_400_000);

  it("boots under qemu with OVMF to multi-user and powers off", async () => {
    const console = await bootUefi(image(), scratch, "MKOSI-BOOT-OK", 900_000);
    expect(console).toContain("MKOSI-BOOT-OK");
  }, 1_000_000);

  // The disk tests share one cache across runs (tests/disk/harness.ts): the changes below are new to it, or
  // a previous run's nodes would be served from it and nothing would rerun.
  const nonce = randomUUID();

  it("an extra file reruns repart; the kernel, initrd, UKI and bootloader stay cached", async () => {
    writeFileSync(join(dir, "mkosi.extra/etc/motd"), `second ${nonce}\n`);
    const run = await build(dir);
    const main = ran(run);
    expect(main).toEqual(expect.arrayContaining(["extras", "boot-scan", "repart-root", "repart", "publish"]));
    for (const step of ["kernel", "uki", "bootloader", "split"]) expect(main).not.toContain(step);
    expect(ran(run, "initrd")).toEqual([]);
    expect(run.cached).toEqual(
      expect.arrayContaining(["main/kernel", "main/uki", "main/bootloader", "initrd/output"]),
    );
  }, 1_200_000);

  it("KernelCommandLine= reruns the UKI and repart's ESP pass; the initrd, kernel and root pass stay cached", async () => {
    writeFileSync(
      join(dir, "mkosi.conf"),
      readFileSync(join(dir, "mkosi.conf"), "utf8").replace(
        "systemd.show_status=1",
        `quiet mkosi.run=${nonce}`,
      ),
    );
    const run = await build(dir);
    const main = ran(run);
    expect(main).toEqual(expect.arrayContaining(["uki", "repart"]));
    for (const step of ["packages", "extras", "boot-scan", "kernel", "bootloader", "repart-root"])
      expect(main).not.toContain(step);
    expect(ran(run, "initrd")).toEqual([]);
    const uki = join(scratch, "uki2.efi");
    vfatRead(image(), espOffset(), vfatList(image(), espOffset(), "/EFI/Linux")[0]!, uki);
    expect(peSections(uki).get(".cmdline")!.toString("utf8")).toContain("quiet");
  }, 1_200_000);

  it("UnifiedKernelImageProfiles= joins a profile (base command line + its own) into the UKI", async () => {
    mkdirSync(join(dir, "mkosi.uki-profiles"));
    writeFileSync(
      join(dir, "mkosi.uki-profiles/rescue.conf"),
      `[UKIProfile]\nProfile=ID=rescue\n        TITLE=Rescue ${nonce}\nCmdline=systemd.unit=rescue.target\n`,
    );
    const run = await build(dir);
    const main = ran(run);
    expect(main).toEqual(expect.arrayContaining(["uki", "repart"]));
    for (const step of ["packages", "extras", "kernel", "bootloader"]) expect(main).not.toContain(step);
    const uki = join(scratch, "profiles.efi");
    vfatRead(image(), espOffset(), vfatList(image(), espOffset(), "/EFI/Linux")[0]!, uki);
    const text = (name: string) =>
      peSectionList(uki)
        .filter(([n]) => n === name)
        .map(([, data]) => data.toString("utf8").replace(/[\0\s]+$/, ""));
    // As upstream's UKIs: the main profile, then each configured one with the base command line and its own.
    expect(text(".profile")).toEqual(["ID=main", `ID=rescue\nTITLE="Rescue ${nonce}"`]);
    const [base, rescue] = text(".cmdline");
    expect(rescue).toBe(`${base} systemd.unit=rescue.target`);
    // Back to the image without profiles (its nodes are cached) for the tests below.
    rmSync(join(dir, "mkosi.uki-profiles"), { recursive: true });
    expect(ran(await build(dir))).toContain("publish");
    const refused = await buildFails(dir, ["--sign-expected-pcr=yes"]);
    expect(refused).toMatch(/SignExpectedPcr=yes needs a key: set SignExpectedPcrKey=/);
  }, 1_200_000);

  it("SplitArtifacts=pcrs writes the UKI's PCR policy digests for offline signing, as its .pcrsig holds them", async () => {
    const key = join(scratch, "pcr.key");
    const certificate = join(scratch, "pcr.crt");
    execFileSync(
      "openssl",
      [
        ...["req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365", "-subj", "/CN=pcr"],
        ...["-keyout", key, "-out", certificate],
      ],
      { stdio: "ignore" },
    );
    const args = ["--split-artifacts=pcrs", `--sign-expected-pcr-certificate=${certificate}`];
    const run = await build(dir, args);
    const main = ran(run);
    expect(main).toEqual(expect.arrayContaining(["uki", "split", "repart", "publish"]));
    for (const step of ["packages", "kernel", "repart-root", "bootloader"]) expect(main).not.toContain(step);
    const text = readFileSync(join(dir, "boot.pcrs"), "utf8");
    // As upstream writes it: ukify's JSON on one line with Python's separators, no newline.
    expect(text).toMatch(/^\{"sha256": \[\{"pcrs": \[11\], "pkfp": "[0-9a-f]{64}", "pol": "/);
    expect(text.endsWith("}]}")).toBe(true);
    const digests = JSON.parse(text) as { sha256: { pcrs: number[]; pkfp: string; pol: string }[] };
    // One policy per boot phase, all for PCR 11 and the certificate's key (SHA-256 of its PKCS#1 DER).
    const pkcs1 = new X509Certificate(readFileSync(certificate)).publicKey.export({
      type: "pkcs1",
      format: "der",
    });
    const fingerprint = createHash("sha256").update(pkcs1).digest("hex");
    expect(digests.sha256.length).toBeGreaterThanOrEqual(2);
    expect(new Set(digests.sha256.map((d) => d.pol)).size).toBe(digests.sha256.length);
    for (const d of digests.sha256) expect(d).toMatchObject({ pcrs: [11], pkfp: fingerprint });
    // The UKI in the ESP carries the same digests in .pcrsig (padded for the signatures added later).
    const uki = join(scratch, "pcrs.efi");
    vfatRead(image(), espOffset(), vfatList(image(), espOffset(), "/EFI/Linux")[0]!, uki);
    const section = peSections(uki)
      .get(".pcrsig")!
      .toString("utf8")
      .replace(/[\0\s]+$/, "");
    expect(JSON.parse(section)).toEqual(digests);
    // With the key in the build, the measurements are signed there: no digests to sign offline (as upstream).
    const signed = await build(dir, [...args, "--sign-expected-pcr=yes", `--sign-expected-pcr-key=${key}`]);
    expect(ran(signed)).toContain("uki");
    expect(existsSync(join(dir, "boot.pcrs"))).toBe(false);
    const log = signed.events.flatMap((e) => (e.type === "log" && e.id === "main/uki" ? [e.line] : []));
    expect(log.join("\n")).toMatch(
      /SplitArtifacts=pcrs: the expected PCR measurements are signed in the build/,
    );
    // Back to the plain image (cached) for the tests below.
    expect(ran(await build(dir))).not.toContain("uki");
  }, 1_200_000);

  it("Format=addon is a PE addon with the command line and the image as an initrd", async () => {
    const run = await build(dir, ["--format=addon", "--output=extra"]);
    // The addon and its publishing run on the cached image; no package, kernel or disk step does.
    expect(ran(run)).toEqual(expect.arrayContaining(["addon", "publish"]));
    for (const step of ["packages", "extras", "kernel", "uki", "repart"])
      expect(ran(run)).not.toContain(step);
    const sections = peSections(join(dir, "extra.efi"));
    expect([...sections.keys()]).not.toContain(".linux");
    expect(sections.get(".cmdline")!.toString("utf8")).toContain("console=ttyS0");
    expect(sections.get(".sbat")!.toString("utf8")).toContain("uki-addon");
    // The image (zstd cpio) as the addon's initrd.
    expect(sections.get(".initrd")!.subarray(0, 4).toString("hex")).toBe("28b52ffd");
    expect(sections.get(".initrd")!.length).toBeGreaterThan(10_000_000);
    // The image's kernel beside it (SplitArtifacts=kernel, a default), as upstream writes it.
    const kernel = readFileSync(join(dir, "extra.vmlinuz"));
    expect(kernel.subarray(0, 2).toString("latin1")).toBe("MZ");
    expect(kernel.length).toBeGreaterThan(5_000_000);
    const without = await build(dir, ["--format=addon", "--output=extra", "--split-artifacts=uki"]);
    expect(ran(without)).toContain("addon");
    expect(existsSync(join(dir, "extra.vmlinuz"))).toBe(false);
  }, 1_200_000);

  it("a kernel package change reruns everything from the packages on (mkosi graph)", async () => {
    const before = readFileSync(join(dir, "mkosi.conf"), "utf8");
    writeFileSync(join(dir, "mkosi.conf"), before.replace("linux-image-amd64", "linux-image-cloud-amd64"));
    const status = await graph(dir);
    expect(status["main/packages"]).toBe("will-run");
    for (const step of ["boot-scan", "kernel", "uki", "repart", "publish"])
      expect(status[`main/${step}`]).toBe("pending-deps");
    expect(status["main/bootstrap"]).toBe("cached");
    expect(status["initrd/output"]).toBe("cached");
    writeFileSync(join(dir, "mkosi.conf"), before);
  }, 600_000);

  it("two builds from scratch give the identical UKI and disk (SourceDateEpoch=, Seed=)", async () => {
    const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
    const before = { uki: sha(join(dir, "boot.efi")), disk: sha(image()) };
    // Forget the image's and the default initrd's nodes (not the tools tree's): the next build is cold.
    await forgetImages(dir);
    const run = await build(dir);
    expect(ran(run)).toEqual(expect.arrayContaining(["packages", "kernel", "uki", "repart"]));
    expect(ran(run, "initrd")).toContain("packages");
    expect(ran(run, "tools")).toEqual([]);
    expect({ uki: sha(join(dir, "boot.efi")), disk: sha(image()) }).toEqual(before);
  }, 2_400_000);
});
