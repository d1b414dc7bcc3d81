// Incremental directory-output updates (formats/treeupdate.ts) against real overlay stacks: layers made
// through overlay mounts (so they carry real whiteouts and opaque directories), an output copied from the
// old stack's merged view, updated from the changed layers, and compared with a fresh copy of the new
// stack's merged view: content, types, modes, owners, times, symlink targets, xattrs, ACLs, hard links.
import {
  chmod,
  chown,
  link,
  mkdir,
  mkdtemp,
  readdir,
  rm,
  symlink,
  unlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeMtime, normalizeMtimeOf } from "../../formats/mtime.js";
import {
  applyTreeUpdate,
  pathsUnder,
  planTreeUpdate,
  type TreeUpdatePlan,
  treeListing,
} from "../../formats/treeupdate.js";
import { copyTree, unmountUnder, withOverlay } from "../../sandbox/overlay.js";
import { describeTree } from "../helpers/tree.js";
import { isRoot, sh } from "./helpers.js";

/** A POSIX ACL (system.posix_acl_access or _default) with the owner/group/other entries at 7/5/5, a mask
 * of 7 and the named entries `[tag, perm, id]` (tag 2 user, 8 group), written as its xattr. */
function setAcl(path: string, kind: "access" | "default", named: [number, number, number][]): void {
  const entries: [number, number, number][] = [
    [1, 7, 0xffffffff],
    ...named.filter(([tag]) => tag === 2),
    [4, 5, 0xffffffff],
    ...named.filter(([tag]) => tag === 8),
    [0x10, 7, 0xffffffff],
    [0x20, 5, 0xffffffff],
  ];
  const value = Buffer.alloc(4 + entries.length * 8);
  value.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    value.writeUInt16LE(tag, 4 + i * 8);
    value.writeUInt16LE(perm, 6 + i * 8);
    value.writeUInt32LE(id, 8 + i * 8);
  });
  sh(`setfattr -n system.posix_acl_${kind} -v 0x${value.toString("hex")} ${JSON.stringify(path)}`);
}

describe.skipIf(!isRoot)("incremental tree update", () => {
  let base = "";
  let n = 0;
  const fresh = async (name: string) => {
    const dir = join(base, `${name}-${n++}`);
    await mkdir(dir, { recursive: true });
    return dir;
  };
  /** A layer made by running `ops` on the merged view of `lowers` (bottom first). */
  const layer = async (lowers: string[], ops: (root: string) => Promise<void>): Promise<string> => {
    const upper = await fresh("layer");
    if (lowers.length === 0) {
      await ops(upper);
      return upper;
    }
    const [work, target] = [await fresh("work"), await fresh("mnt")];
    await withOverlay({ lowers, upper, work, target }, ops);
    return upper;
  };
  /** The merged view of `lowers`, copied. */
  const flat = async (lowers: string[]): Promise<string> => {
    const dest = await fresh("flat");
    await withOverlay({ lowers, target: await fresh("mnt") }, (root) => copyTree(root, dest));
    return dest;
  };
  /** Update `target` (a copy of `oldStack`'s view) to `newStack`'s view; returns the plan. */
  const update = async (
    target: string,
    oldStack: string[],
    newStack: string[],
    cpBatch?: number,
  ): Promise<TreeUpdatePlan | string> => {
    let common = 0;
    while (oldStack[common] !== undefined && oldStack[common] === newStack[common]) common++;
    const candidates = await pathsUnder([...oldStack.slice(common), ...newStack.slice(common)]);
    return withOverlay({ lowers: newStack, target: await fresh("mnt") }, async (root) => {
      const plan = await planTreeUpdate(root, target, candidates);
      if (typeof plan !== "string")
        await applyTreeUpdate(root, target, plan, await fresh("scratch"), { cpBatch });
      return plan;
    });
  };

  let l0 = "";
  let l1 = "";
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "mkosi-treeupdate-"));
    l0 = await layer([], async (root) => {
      for (const d of ["etc/dir", "usr/bin", "var/log/journal", "swap", "deep/a/b/c", "opaque/sub"])
        await mkdir(join(root, d), { recursive: true });
      for (const f of ["etc/a", "etc/b", "etc/c", "etc/dir/x", "etc/dir/y", "swap/inside", "swap2"])
        await writeFile(join(root, f), `${f} v0\n`);
      await writeFile(join(root, "deep/a/b/c/file"), "deep\n");
      await writeFile(join(root, "opaque/sub/kept-below"), "below\n");
      await writeFile(join(root, "opaque/top"), "top\n");
      await writeFile(join(root, "usr/bin/tool"), "#!/bin/sh\n");
      await chmod(join(root, "usr/bin/tool"), 0o755);
      await writeFile(join(root, "usr/bin/hard1"), "linked\n");
      await link(join(root, "usr/bin/hard1"), join(root, "usr/bin/hard2"));
      await symlink("a", join(root, "etc/link"));
      await writeFile(join(root, "etc/owned"), "owned\n");
      await chown(join(root, "etc/owned"), 1234, 5678);
      sh(`setfattr -n user.mkosi -v zero ${JSON.stringify(join(root, "etc/c"))}`);
      await utimes(join(root, "etc/a"), 1_000_000, 1_000_000);
    });
    l1 = await layer([l0], async (root) => {
      await writeFile(join(root, "etc/b"), "etc/b v1\n");
      await writeFile(join(root, "etc/common-new"), "new in l1\n");
    });
  });
  afterAll(async () => {
    await unmountUnder(base);
    await rm(base, { recursive: true, force: true });
  });

  const oldSuffix = async (below: string[]) => {
    const o1 = await layer(below, async (root) => {
      await rm(join(root, "etc/a")); // whiteout
      await rm(join(root, "opaque"), { recursive: true }); // opaque directory
      await mkdir(join(root, "opaque"));
      await writeFile(join(root, "opaque/only-old"), "old\n");
      await rm(join(root, "swap"), { recursive: true }); // directory → file
      await writeFile(join(root, "swap"), "was a directory\n");
      await rm(join(root, "swap2")); // file → directory
      await mkdir(join(root, "swap2/x/y"), { recursive: true });
      await writeFile(join(root, "swap2/x/y/z"), "deep in swap2\n");
      await chmod(join(root, "etc/dir"), 0o700);
      sh(`setfattr -n user.old -v yes ${JSON.stringify(join(root, "etc/b"))}`);
      await mkdir(join(root, "old-only/tree"), { recursive: true });
      await writeFile(join(root, "old-only/tree/f"), "old only\n");
      await writeFile(join(root, "etc/old-hard1"), "old pair\n");
      await link(join(root, "etc/old-hard1"), join(root, "etc/old-hard2"));
    });
    const o2 = await layer([...below, o1], async (root) => {
      await writeFile(join(root, "etc/motd"), "old motd\n");
      await rm(join(root, "etc/link"));
      await symlink("b", join(root, "etc/link"));
    });
    return [o1, o2];
  };

  const newSuffix = async (below: string[]) => [
    await layer(below, async (root) => {
      await rm(join(root, "etc/c")); // whiteout of a file with xattrs
      await writeFile(join(root, "etc/dir/x"), "etc/dir/x new\n");
      await writeFile(join(root, "etc/dir/z"), "z\n");
      await rm(join(root, "deep"), { recursive: true }); // whiteout of a directory
      await writeFile(join(root, "etc/motd"), "new motd, longer than the old one\n");
      await writeFile(join(root, "etc/new-hard1"), "new pair\n");
      await link(join(root, "etc/new-hard1"), join(root, "etc/new-hard2"));
      sh(`setfattr -n user.dir -v on ${JSON.stringify(join(root, "etc"))}`);
      setAcl(join(root, "var/log/journal"), "access", [[2, 5, 1234]]);
      setAcl(join(root, "var/log/journal"), "default", [[8, 4, 5678]]);
      await chmod(join(root, "usr/bin"), 0o711);
      await symlink("dir/z", join(root, "etc/zlink"));
      await chown(join(root, "etc/owned"), 4321, 8765);
    }),
  ];

  it("turns the old stack's view into the new one's exactly", async () => {
    const oldStack = [l0, l1, ...(await oldSuffix([l0, l1]))];
    const newStack = [l0, l1, ...(await newSuffix([l0, l1]))];
    const target = await flat(oldStack);
    const expected = describeTree(await flat(newStack));
    expect(describeTree(target)).not.toEqual(expected);
    const plan = await update(target, oldStack, newStack);
    expect(typeof plan).not.toBe("string");
    expect(describeTree(target)).toEqual(expected);
  });

  it("and back again", async () => {
    const oldStack = [l0, l1, ...(await newSuffix([l0, l1]))];
    const newStack = [l0, l1, ...(await oldSuffix([l0, l1]))];
    const target = await flat(oldStack);
    const expected = describeTree(await flat(newStack));
    const plan = await update(target, oldStack, newStack);
    expect(typeof plan).not.toBe("string");
    expect(describeTree(target)).toEqual(expected);
  });

  it("gives rsync the files too when there are many", async () => {
    const oldStack = [l0, l1, ...(await oldSuffix([l0, l1]))];
    const newStack = [l0, l1, ...(await newSuffix([l0, l1]))];
    const target = await flat(oldStack);
    const expected = describeTree(await flat(newStack));
    const plan = await update(target, oldStack, newStack, 0);
    expect(typeof plan).not.toBe("string");
    expect(describeTree(target)).toEqual(expected);
  });

  it("copes with top-level names that rsync would read as patterns", async () => {
    const oldTop = await layer([l0, l1], async (root) => {
      await writeFile(join(root, "odd[1]*?"), "old\n");
    });
    const newTop = await layer([l0, l1], async (root) => {
      await writeFile(join(root, "odd[1]*?"), "new, longer\n");
      await chmod(join(root, "etc"), 0o750);
    });
    const target = await flat([l0, l1, oldTop]);
    const expected = describeTree(await flat([l0, l1, newTop]));
    const plan = await update(target, [l0, l1, oldTop], [l0, l1, newTop]);
    expect(typeof plan).not.toBe("string");
    expect(describeTree(target)).toEqual(expected);
  });

  it("changes nothing when the stacks are the same", async () => {
    const stack = [l0, l1];
    const target = await flat(stack);
    const before = describeTree(target);
    const plan = await update(target, stack, stack);
    expect(plan).toEqual({ remove: [], transfer: ["."], dirs: ["."] });
    expect(describeTree(target)).toEqual(before);
  });

  it("refuses when a hard-link group reaches outside the changed paths", async () => {
    // The old stack changed one name of a linked pair; the new one restores the pair from the base.
    const oldTop = await layer([l0, l1], async (root) => {
      await writeFile(join(root, "usr/bin/hard1"), "unlinked\n");
    });
    const newTop = await layer([l0, l1], async (root) => {
      await writeFile(join(root, "etc/unrelated"), "x\n");
    });
    const target = await flat([l0, l1, oldTop]);
    const plan = await update(target, [l0, l1, oldTop], [l0, l1, newTop]);
    expect(plan).toMatch(/usr\/bin\/hard1 has hard links outside the changed paths/);
  });

  it("clamps the updated entries to SourceDateEpoch= as a whole-tree clamp would", async () => {
    const epoch = 1_500_000_000;
    const oldStack = [l0, l1, ...(await oldSuffix([l0, l1]))];
    const newStack = [l0, l1, ...(await newSuffix([l0, l1]))];
    const target = await flat(oldStack);
    await normalizeMtime(target, epoch);
    const reference = await flat(newStack);
    await normalizeMtime(reference, epoch);
    const plan = await update(target, oldStack, newStack);
    if (typeof plan === "string") throw new Error(plan);
    await normalizeMtimeOf(target, plan.transfer, epoch);
    expect(describeTree(target)).toEqual(describeTree(reference));
  });

  it("lists a tree so that any change shows", async () => {
    const tree = await flat([l0, l1]);
    const before = await treeListing(tree);
    expect(before.get("")).toMatch(/^d /);
    expect(before.get("etc/a")).toMatch(/^f /);
    expect(await treeListing(tree)).toEqual(before);
    // Same size, same mtime, new content: the change time still moves.
    const path = join(tree, "etc/b");
    const { mtime } = await import("node:fs").then((fs) => fs.lstatSync(path));
    await new Promise((r) => setTimeout(r, 20));
    await writeFile(path, "etc/b v2\n");
    await utimes(path, mtime, mtime);
    const after = await treeListing(tree);
    expect(after.get("etc/b")).not.toEqual(before.get("etc/b"));
    // Only some entries, in the same format.
    const some = await treeListing(tree, ["", "etc/b", "usr/bin"]);
    expect([...some.keys()].sort()).toEqual(["", "etc/b", "usr/bin"]);
    expect(some.get("etc/b")).toEqual(after.get("etc/b"));
    expect(some.get("")).toEqual(after.get(""));
    await unlink(path);
    expect((await treeListing(tree)).has("etc/b")).toBe(false);
    expect(await readdir(join(tree, "etc"))).not.toContain("b");
  });
});
