// Extension images (Format=sysext, confext, portable) and an OCI layout (Format=oci) of one small bookworm image: systemd-repart with
// mkosi's definitions writes an erofs root partition, and systemd-dissect recognizes each for what it is
// (the host's systemd 252 knows system extensions and portable services; configuration extensions came
// with 254, so the confext is checked by its partition and extension-release file instead).
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build, diskTree, join, ran, TYPE, takeDiskTurn } from "./harness.js";
import { extractPartition, gpt } from "./inspect.js";

const CONF = `[Output]
ImageId=ext
ImageVersion=1.2

[Content]
Packages=dbus`;

// A portable service image declares its unit prefixes in os-release.
const OS_RELEASE = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
ID=debian
VERSION_ID="12"
PORTABLE_PREFIXES=ext
`;

interface Dissected {
  mounts: { fstype: string; designator: string }[];
  useSystemExtension?: boolean;
  usePortableService?: boolean;
  osRelease?: string[];
  extensionRelease?: string[];
}

function dissect(image: string): Dissected {
  return JSON.parse(
    execFileSync("systemd-dissect", ["--json=short", image], { encoding: "utf8" }),
  ) as Dissected;
}

describe("extension images", () => {
  let dir = "";
  let scratch = "";

  let release = () => {};
  beforeAll(async () => {
    release = await takeDiskTurn();
    dir = await diskTree(CONF, {
      "mkosi.extra/usr/lib/os-release": OS_RELEASE,
      "mkosi.extra/usr/lib/systemd/system/ext-hello.service": "[Service]\nExecStart=/bin/true\n",
      "mkosi.extra/etc/ext.conf": "configured\n",
    });
    scratch = await mkdtemp(join(tmpdir(), "mkosi-ext-"));
  }, 3_600_000);
  afterAll(() => {
    for (const d of [dir, scratch]) if (d) rmSync(d, { recursive: true, force: true });
    release();
  });

  it("Format=sysext is a system extension of /usr with an extension-release file", async () => {
    await build(dir, ["--format=sysext"]);
    const image = join(dir, "ext_1.2.raw");
    expect(gpt(image).partitions.map((p) => p.type)).toEqual([TYPE.root]);
    const d = dissect(image);
    expect(d.useSystemExtension).toBe(true);
    expect(d.mounts.map((m) => m.fstype)).toEqual(["erofs"]);
    expect(d.extensionRelease).toEqual(
      expect.arrayContaining([
        "ID=debian",
        "VERSION_ID=12",
        "SYSEXT_ID=ext",
        "SYSEXT_VERSION_ID=1.2",
        "ARCHITECTURE=x86-64",
      ]),
    );
  }, 1_800_000);

  it("Format=confext holds /etc and a configuration extension-release file", async () => {
    await build(dir, ["--format=confext", "--output=conf"]);
    const image = join(dir, "conf.raw");
    const [root] = gpt(image).partitions;
    expect(root!.type).toBe(TYPE.root);
    expect(dissect(image).mounts.map((m) => m.fstype)).toEqual(["erofs"]);
    const fs = join(scratch, "confext.erofs");
    extractPartition(image, root!, fs);
    const tree = join(scratch, "confext");
    execFileSync("fsck.erofs", [`--extract=${tree}`, fs]);
    expect(readFileSync(join(tree, "etc/ext.conf"), "utf8")).toBe("configured\n");
    expect(readFileSync(join(tree, "etc/extension-release.d/extension-release.conf"), "utf8")).toMatch(
      /^ID=debian\nVERSION_ID=12\nCONFEXT_ID=ext\nCONFEXT_VERSION_ID=1\.2\nCONFEXT_SCOPE=initrd system portable\nARCHITECTURE=x86-64\n$/,
    );
  }, 900_000);

  it("Format=portable is a portable service image (the whole tree, with its os-release and units)", async () => {
    await build(dir, ["--format=portable", "--output=portable", "--split-artifacts=partitions"]);
    const image = join(dir, "portable.raw");
    // Split partitions are named by type alone, as upstream names them (systemd's tree reads
    // %O/minimal-0.root-%a.raw).
    expect(readFileSync(join(dir, "portable.root-x86-64.raw")).length).toBeGreaterThan(0);
    const d = dissect(image);
    expect(d.mounts.map((m) => m.fstype)).toEqual(["erofs"]);
    // systemd 252 reads the image's os-release; it says "portable service" from 254 on (checked by hand
    // with the tools tree's systemd-dissect), so the units are checked in the partition itself.
    expect(d.osRelease).toEqual(expect.arrayContaining(["PORTABLE_PREFIXES=ext"]));
    const [root] = gpt(image).partitions;
    const fs = join(scratch, "portable.erofs");
    extractPartition(image, root!, fs);
    const tree = join(scratch, "portable");
    execFileSync("fsck.erofs", [`--extract=${tree}`, fs]);
    expect(readFileSync(join(tree, "usr/lib/systemd/system/ext-hello.service"), "utf8")).toContain(
      "ExecStart=",
    );
    expect(readFileSync(join(tree, "usr/bin/dbus-daemon")).length).toBeGreaterThan(0);
  }, 900_000);

  it("Format=oci is an OCI image layout skopeo accepts, with the image as its layer", async () => {
    await build(dir, ["--format=oci", "--output=oci", "--source-date-epoch=1700000000"]);
    const layout = join(dir, "oci");
    const inspected = JSON.parse(
      execFileSync("skopeo", ["inspect", `oci:${layout}`], { encoding: "utf8" }),
    ) as {
      Architecture: string;
      Os: string;
      Created: string;
      Layers: string[];
    };
    expect(inspected).toMatchObject({ Architecture: "amd64", Os: "linux", Created: "2023-11-14T22:13:20Z" });
    expect(inspected.Layers).toHaveLength(1);
    const layer = join(layout, "blobs/sha256", inspected.Layers[0]!.replace("sha256:", ""));
    const listing = execFileSync("sh", ["-c", 'gzip -dc "$1" | tar -tf -', "sh", layer], {
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    expect(listing).toContain("./etc/ext.conf");
  }, 900_000);

  // Overlay=yes: the extension holds what the image adds on top of its base trees (here a custom image: a
  // base tree and an extra tree). Then the base tree moves (same content, another path): base-trees
  // reruns, its output is identical, the layers above stay cached, and the base is still left out.
  it("Overlay=yes leaves the base trees out, also after the base tree moves", async () => {
    const nonce = randomUUID();
    const base = join(scratch, "base-a");
    mkdirSync(join(base, "usr/share"), { recursive: true });
    writeFileSync(join(base, "usr/share/base-marker"), `${nonce}\n`);
    writeFileSync(join(base, "usr/share/os-release"), "ID=custom\n");
    const tree = await diskTree(
      "[Output]\nFormat=sysext\nOutput=overlay\nOverlay=yes",
      { "mkosi.extra/usr/lib/ext/added": `${nonce}\n` },
      "custom",
    );
    const contents = async (baseTree: string, name: string) => {
      const run = await build(tree, [`--base-tree=${baseTree}`]);
      const image = join(tree, "overlay.raw");
      const fs = join(scratch, `${name}.erofs`);
      extractPartition(image, gpt(image).partitions[0]!, fs);
      const out = join(scratch, name);
      execFileSync("fsck.erofs", [`--extract=${out}`, fs]);
      return { run, tree: out };
    };
    try {
      const first = await contents(base, "overlay1");
      expect(existsSync(join(first.tree, "usr/share/base-marker"))).toBe(false);
      expect(readFileSync(join(first.tree, "usr/lib/ext/added"), "utf8")).toBe(`${nonce}\n`);

      const moved = join(scratch, "base-b");
      renameSync(base, moved);
      const second = await contents(moved, "overlay2");
      expect(ran(second.run)).toContain("base-trees");
      expect(ran(second.run)).not.toContain("extras");
      expect(existsSync(join(second.tree, "usr/share/base-marker"))).toBe(false);
      expect(readFileSync(join(second.tree, "usr/lib/ext/added"), "utf8")).toBe(`${nonce}\n`);
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  }, 1_800_000);
});
