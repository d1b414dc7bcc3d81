// A bootable disk with dm-verity and SecureBoot, keys from `mkosi genkey`: mkosi.repart/ makes a
// verity-protected erofs root with hash and signature partitions; the root hash reaches the UKI's
// command line (and name), veritysetup verifies the partitions against it, the signature partition
// carries it, and the UKI and systemd-boot verify with sbverify against the generated certificate.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMkosi } from "../pipeline/harness.js";
import { build, DISK_CACHE, diskTree, join, ran, TYPE, takeDiskTurn } from "./harness.js";
import { extractPartition, gpt, peSections, vfatList, vfatRead } from "./inspect.js";

const CONF = `[Output]
Format=disk
ImageId=verity

[Content]
Packages=linux-image-amd64
         systemd
         systemd-boot-efi
         udev
Bootable=yes
KernelInitrdModules=default
KernelCommandLine=console=ttyS0

[Validation]
SecureBoot=yes
Verity=signed`;

const DEFINITIONS = {
  "mkosi.repart/00-esp.conf":
    "[Partition]\nType=esp\nFormat=vfat\nCopyFiles=/efi:/\nSizeMinBytes=256M\nSizeMaxBytes=256M\n",
  "mkosi.repart/10-root.conf":
    "[Partition]\nType=root\nFormat=erofs\nCopyFiles=/\nExcludeFiles=/efi/\nVerity=data\nVerityMatchKey=root\nMinimize=best\n",
  "mkosi.repart/20-root-verity.conf":
    "[Partition]\nType=root-verity\nVerity=hash\nVerityMatchKey=root\nMinimize=best\n",
  "mkosi.repart/30-root-verity-sig.conf":
    "[Partition]\nType=root-verity-sig\nVerity=signature\nVerityMatchKey=root\n",
};

describe("verity and SecureBoot", () => {
  let dir = "";
  let scratch = "";

  let release = () => {};
  beforeAll(async () => {
    release = await takeDiskTurn();
    dir = await diskTree(CONF, DEFINITIONS);
    scratch = await mkdtemp(join(tmpdir(), "mkosi-verity-"));
    const genkey = await runMkosi(["genkey"], { cwd: dir, env: { MKOSI_CACHE_DIR: DISK_CACHE } });
    expect(genkey.code, genkey.stderr).toBe(0);
  }, 3_600_000);
  afterAll(() => {
    for (const d of [dir, scratch]) if (d) rmSync(d, { recursive: true, force: true });
    release();
  });

  it("puts the root hash of a verified root into the signed UKI", async () => {
    const run = await build(dir);
    expect(ran(run)).toEqual(expect.arrayContaining(["repart-root", "roothash", "uki", "repart"]));
    const image = join(dir, "verity.raw");
    const table = gpt(image);
    expect(table.partitions.map((p) => p.type)).toEqual([
      TYPE.esp,
      TYPE.root,
      TYPE.rootVerity,
      TYPE.rootVeritySig,
    ]);
    const [esp, root, hash, sig] = table.partitions;
    const offset = esp!.start * table.sectorSize;

    // The UKI: its name and command line carry the root hash.
    const [entry] = vfatList(image, offset, "/EFI/Linux");
    const roothash = /-([0-9a-f]{64})\.efi$/.exec(entry!)?.[1];
    expect(roothash).toBeDefined();
    const uki = join(scratch, "uki.efi");
    vfatRead(image, offset, entry!, uki);
    expect(peSections(uki).get(".cmdline")!.toString("utf8")).toContain(`roothash=${roothash}`);

    // The partitions verify against it, and the signature partition signs it.
    const data = join(scratch, "root.img");
    const tree = join(scratch, "hash.img");
    extractPartition(image, root!, data);
    extractPartition(image, hash!, tree);
    execFileSync("veritysetup", ["verify", data, tree, roothash!]);
    const signature = join(scratch, "sig.img");
    extractPartition(image, sig!, signature);
    const json = JSON.parse(readFileSync(signature, "utf8").replace(/\0+$/, "")) as { rootHash: string };
    expect(json.rootHash).toBe(roothash);

    // SecureBoot: the UKI and systemd-boot are signed with the genkey certificate; keys for auto-enrollment.
    const cert = join(dir, "mkosi.crt");
    expect(execFileSync("sbverify", ["--cert", cert, uki], { encoding: "utf8" })).toContain(
      "Signature verification OK",
    );
    for (const path of ["/EFI/BOOT/BOOTX64.EFI", "/EFI/systemd/systemd-bootx64.efi"]) {
      const file = join(scratch, path.replace(/\//g, "_"));
      vfatRead(image, offset, path, file);
      expect(execFileSync("sbverify", ["--cert", cert, file], { encoding: "utf8" })).toContain(
        "Signature verification OK",
      );
    }
    expect(vfatList(image, offset, "/loader/keys/auto")).toEqual(
      expect.arrayContaining([
        "/loader/keys/auto/PK.auth",
        "/loader/keys/auto/KEK.auth",
        "/loader/keys/auto/db.auth",
      ]),
    );
  }, 2_400_000);
});
