import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  flattenStack,
  mountOverlay,
  mountsUnder,
  setOverlayMountApi,
  unmountUnder,
  withOverlay,
} from "../../sandbox/overlay.js";

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)("overlay stacks", () => {
  let base: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "mkosi-ovl-test-"));
  });
  afterAll(async () => {
    await unmountUnder(base);
    await rm(base, { recursive: true, force: true });
  });

  async function dirs(...names: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const n of names) {
      const p = join(base, n);
      await mkdir(p, { recursive: true });
      out.push(p);
    }
    return out;
  }

  it("stacks layers, carries deletions (whiteouts) and opaque dirs across layers", async () => {
    const [l1, l2, l3, w2, w3, m] = await dirs("l1", "l2", "l3", "w2", "w3", "m");
    // Layer 1: the base, written directly.
    await mkdir(join(l1!, "etc/dir"), { recursive: true });
    await writeFile(join(l1!, "etc/a"), "a1");
    await writeFile(join(l1!, "etc/b"), "b1");
    await writeFile(join(l1!, "etc/dir/x"), "x1");
    // Layer 2: delete a file, replace a directory, modify a file.
    await withOverlay({ lowers: [l1!], upper: l2!, work: w2!, target: m! }, async (root) => {
      await rm(join(root, "etc/a"));
      await rm(join(root, "etc/dir"), { recursive: true });
      await mkdir(join(root, "etc/dir"));
      await writeFile(join(root, "etc/dir/y"), "y2");
      await writeFile(join(root, "etc/b"), "b2");
    });
    // The upper holds a whiteout (char device 0/0) for etc/a.
    const wh = await lstat(join(l2!, "etc/a"));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    // Layer 3 on top of 1+2 sees the deletion and the opaque directory.
    await withOverlay({ lowers: [l1!, l2!], upper: l3!, work: w3!, target: m! }, async (root) => {
      expect((await readdir(join(root, "etc"))).sort()).toEqual(["b", "dir"]);
      expect(await readdir(join(root, "etc/dir"))).toEqual(["y"]);
      expect(await readFile(join(root, "etc/b"), "utf8")).toBe("b2");
      await writeFile(join(root, "etc/a"), "a3");
    });
    expect(await mountsUnder(base)).toEqual([]);
    // Read-only view of all three, and flattening.
    const ro = await mountOverlay({ lowers: [l1!, l2!, l3!], target: m! });
    try {
      expect(await readFile(join(m!, "etc/a"), "utf8")).toBe("a3");
      await expect(writeFile(join(m!, "etc/z"), "z")).rejects.toThrow(/EROFS|read-only/);
    } finally {
      await ro.unmount();
      await ro.unmount(); // idempotent
    }
    const flat = join(base, "flat");
    await flattenStack([l1!, l2!], flat, base);
    expect((await readdir(join(flat, "etc"))).sort()).toEqual(["b", "dir"]);
    expect(await readdir(join(flat, "etc/dir"))).toEqual(["y"]);
    expect(await mountsUnder(base)).toEqual([]);
  });

  it("handles a single read-only layer and an empty stack with an upper", async () => {
    const [l, u, w, m] = await dirs("s-l", "s-u", "s-w", "s-m");
    await writeFile(join(l!, "f"), "f");
    await withOverlay({ lowers: [l!], target: m! }, async (root) => {
      expect(await readdir(root)).toEqual(["f"]);
    });
    await withOverlay({ lowers: [], upper: u!, work: w!, target: m! }, async (root) => {
      await writeFile(join(root, "g"), "g");
    });
    expect(await readdir(u!)).toEqual(["g"]);
  });

  it("mounts many layers with long paths", async () => {
    const lowers: string[] = [];
    for (let i = 0; i < 120; i++) {
      const p = join(base, "many", `${i.toString().padStart(3, "0")}-${"0123456789abcdef".repeat(4)}`);
      await mkdir(p, { recursive: true });
      await writeFile(join(p, `f${i}`), String(i));
      lowers.push(p);
    }
    const [m] = await dirs("many-m");
    await withOverlay({ lowers, target: m! }, async (root) => {
      expect((await readdir(root)).length).toBe(120);
    });
  });

  it("unmounts when the body throws and reports clear errors", async () => {
    const [l, m] = await dirs("e-l", "e-m");
    await expect(
      withOverlay({ lowers: [l!], target: m! }, async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await mountsUnder(m!)).toEqual([]);
    await expect(mountOverlay({ lowers: [join(base, "does-not-exist")], target: m! })).rejects.toThrow(
      /mounting overlay/,
    );
  });

  it("legacy mount(8) path: relative paths fit many layers, whiteouts work, too many is a clear error", async () => {
    setOverlayMountApi("legacy");
    try {
      const lowers: string[] = [];
      for (let i = 0; i < 40; i++) {
        const p = join(base, "legacy", `${"0123456789abcdef".repeat(4)}-${i}`, "tree");
        await mkdir(p, { recursive: true });
        await writeFile(join(p, `f${i}`), String(i));
        lowers.push(p);
      }
      const [u, w, m] = await dirs("legacy-u", "legacy-w", "legacy-m");
      await withOverlay({ lowers, upper: u!, work: w!, target: m! }, async (root) => {
        expect((await readdir(root)).length).toBe(40);
        await rm(join(root, "f0"));
      });
      expect((await lstat(join(u!, "f0"))).isCharacterDevice()).toBe(true);
      const many = Array.from({ length: 200 }, (_, i) => join(base, `x${i}-${"y".repeat(60)}`));
      await expect(mountOverlay({ lowers: many, target: m! })).rejects.toThrow(/4095/);
    } finally {
      setOverlayMountApi("auto");
    }
  });
});
