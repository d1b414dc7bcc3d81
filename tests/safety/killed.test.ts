// Item 4 of the safety issue: a build killed with SIGKILL while it has an overlay mounted leaves no mount
// behind on the host; `mkosi clean` succeeds and the cache can be removed with `rm -rf`. With a mount
// namespace of its own (bin/mkosi, as root) the mounts die with the process; without one
// (MKOSI_MOUNT_NAMESPACE=no) they stay until `mkosi clean` (or the next build) detaches them.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import {
  customTree,
  hostMountsUnder,
  makeTree,
  missingPrerequisite,
  mkosi,
  mkosiOk,
  mountsOf,
  startBuild,
  type Tree,
  waitFor,
} from "./helpers.js";

const skip = missingPrerequisite();

/** A tree whose post-installation script (which runs on the image's overlay mount) waits for a long
 * time: the test kills the build there. */
function slowTree() {
  return makeTree(customTree({ "mkosi.postinst": "#!/bin/sh\nsleep 300\n" }));
}

/** Starts a build, waits until it has an overlay mounted below the cache, kills it with SIGKILL. */
async function killWhileMounted(tree: Tree, env: Record<string, string> = {}): Promise<void> {
  const build = startBuild(tree, env);
  const pid = build.child.pid!;
  await waitFor(`an overlay mount of mkosi (pid ${pid}) below ${tree.cache}`, 120, () =>
    mountsOf(pid).some((m) => m.fstype === "overlay" && m.point.startsWith(`${tree.cache}/`)),
  );
  process.kill(pid, "SIGKILL");
  await build.exited;
}

describe.skipIf(skip !== undefined)(`a build killed with SIGKILL${skip ? ` (skipped: ${skip})` : ""}`, () => {
  const trees: Tree[] = [];

  afterAll(async () => {
    for (const tree of trees) {
      for (const m of hostMountsUnder(tree.root).reverse())
        execFileSync("umount", ["-l", m], { stdio: "ignore" });
      await tree.remove();
    }
  });

  it("leaves no mount on the host; clean and rm -rf of the cache succeed", async () => {
    const tree = await slowTree();
    trees.push(tree);
    await killWhileMounted(tree);
    expect(hostMountsUnder(tree.cache)).toEqual([]);
    await mkosiOk(tree, ["clean"]);
    execFileSync("rm", ["-rf", tree.cache]);
    expect(existsSync(tree.cache)).toBe(false);
    // And the next build starts from nothing and works.
    await tree.write({ "mkosi.postinst": "#!/bin/sh\necho postinst ran\n" });
    await mkosiOk(tree, ["build"]);
  });

  it("without a mount namespace of its own, clean detaches what the killed build left", async () => {
    const tree = await slowTree();
    trees.push(tree);
    await killWhileMounted(tree, { MKOSI_MOUNT_NAMESPACE: "no" });
    expect(hostMountsUnder(tree.cache).length).toBeGreaterThan(0);
    const clean = await mkosi(tree, ["clean"], { MKOSI_MOUNT_NAMESPACE: "no" });
    expect(clean.code).toBe(0);
    expect(hostMountsUnder(tree.cache)).toEqual([]);
    execFileSync("rm", ["-rf", tree.cache]);
    expect(existsSync(tree.cache)).toBe(false);
  });
});
