// Format=disk of a small bookworm image: systemd-repart from the default tools tree writes a GPT with
// one root partition (ext4, the distribution's filesystem) holding the image's files; an unchanged
// rebuild is up to date (the random per-invocation Seed= is not an input); a host whose systemd is too
// old fails before any work when there is no tools tree.
import { execFileSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMkosi } from "../pipeline/harness.js";
import { build, DISK_CACHE, diskTree, forgetImages, join, ran, TYPE, takeDiskTurn } from "./harness.js";
import { ext4Cat, extractPartition, gpt } from "./inspect.js";

const CONF = `[Output]
Format=disk
ImageId=plain
Seed=7d2c2a8e-6f36-4b5a-9d1e-0a0c3c3f6a11

[Content]
Packages=dbus
SourceDateEpoch=1700000000`;

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

describe("Format=disk", () => {
  let dir = "";
  let scratch = "";

  let release = () => {};
  beforeAll(async () => {
    release = await takeDiskTurn();
    dir = await diskTree(CONF, { "mkosi.extra/etc/motd": "disk image\n" });
    scratch = await mkdtemp(join(tmpdir(), "mkosi-disk-"));
  }, 3_600_000);
  afterAll(() => {
    for (const d of [dir, scratch]) if (d) rmSync(d, { recursive: true, force: true });
    release();
  });

  it("fails before any work without a tools tree on a host with an old systemd", async () => {
    const run = await runMkosi(["--tools-tree=", "build"], {
      cwd: dir,
      env: { MKOSI_CACHE_DIR: DISK_CACHE },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/Format=disk needs systemd-repart .*systemd ≥ 255.*ToolsTree=default/);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it("writes a GPT with a root partition that holds the image", async () => {
    const run = await build(dir);
    expect(ran(run)).toContain("repart");
    const image = join(dir, "plain.raw");
    const table = gpt(image);
    expect(table.partitions.map((p) => p.type)).toEqual([TYPE.root]);
    expect(table.partitions[0]!.name).toBe("root-x86-64");
    const root = join(scratch, "root.ext4");
    extractPartition(image, table.partitions[0]!, root);
    expect(execFileSync("blkid", ["-o", "value", "-s", "TYPE", root], { encoding: "utf8" }).trim()).toBe(
      "ext4",
    );
    expect(ext4Cat(root, "/etc/motd")).toBe("disk image\n");
    expect(ext4Cat(root, "/usr/lib/os-release")).toMatch(/VERSION_CODENAME=bookworm/);
    expect(ext4Cat(root, "/usr/bin/dbus-daemon").length).toBeGreaterThan(0);
  }, 1_800_000);

  it("is up to date when nothing changed, and a pinned Seed= gives the same partition UUIDs", async () => {
    const before = gpt(join(dir, "plain.raw"));
    const again = await build(dir);
    expect(again.ran).toEqual([]);
    expect(gpt(join(dir, "plain.raw"))).toEqual(before);
  }, 600_000);

  it("an extra file reruns repart and nothing of the image below the extras", async () => {
    // New to the disk tests' shared cache (a previous run built "changed" already).
    const motd = `changed ${randomUUID()}\n`;
    writeFileSync(join(dir, "mkosi.extra/etc/motd"), motd);
    const run = await build(dir);
    expect(ran(run)).toEqual(expect.arrayContaining(["extras", "repart", "publish"]));
    expect(ran(run)).not.toContain("packages");
    const table = gpt(join(dir, "plain.raw"));
    const root = join(scratch, "root2.ext4");
    extractPartition(join(dir, "plain.raw"), table.partitions[0]!, root);
    expect(ext4Cat(root, "/etc/motd")).toBe(motd);
  }, 600_000);

  it("two builds of the same image from scratch are byte-identical (SourceDateEpoch=, Seed=)", async () => {
    const first = sha256(join(dir, "plain.raw"));
    // Forget the image's nodes (not the tools tree's): the next build redoes the whole image cold.
    await forgetImages(dir);
    const run = await build(dir);
    expect(ran(run)).toEqual(expect.arrayContaining(["bootstrap", "packages", "repart"]));
    expect(ran(run, "tools")).toEqual([]);
    expect(sha256(join(dir, "plain.raw"))).toBe(first);
  }, 1_800_000);
});
