// Item 6 of the safety issue: during a build, the host's /usr (and /etc, /opt, /boot, /efi, /media, as
// upstream does) is read-only in mkosi's mount namespace, so steps that run host programs outside the
// sandbox cannot change it, and every sandbox binds the read-only view; the host itself is not affected.
// A directory that holds one the build writes to (cache, output, configuration) stays writable.
import { afterAll, describe, expect, it } from "vitest";
import { directoriesToProtect } from "../../sandbox/namespace.js";
import {
  customTree,
  makeTree,
  missingPrerequisite,
  mountsOf,
  startBuild,
  type Tree,
  waitFor,
} from "./helpers.js";

const skip = missingPrerequisite();

describe("which host directories a build protects", () => {
  it("all of upstream's list that exist, except those holding a writable directory", () => {
    const all = directoriesToProtect(["/tmp/x"]).map((d) => d.path);
    expect(all).toContain("/usr");
    expect(all).toContain("/etc");
    const kept = directoriesToProtect(["/usr/src/project/mkosi.output", "/tmp/x"]).map((d) => d.path);
    expect(kept).not.toContain("/usr");
    expect(kept).toContain("/etc");
    expect(directoriesToProtect(["/tmp"]).find((d) => d.path === "/usr")?.attrs).toBe(1);
  });
});

describe.skipIf(skip !== undefined)(
  `host directories during a build${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    let tree: Tree;

    afterAll(async () => {
      await tree?.remove();
    });

    it("are read-only for mkosi and writable for the host", async () => {
      tree = await makeTree(customTree({ "mkosi.postinst": "#!/bin/sh\nsleep 300\n" }));
      const hostBefore = mountsOf("self").filter((m) => m.point === "/usr" || m.point === "/etc");
      const build = startBuild(tree);
      const pid = build.child.pid!;
      try {
        // The post-installation script runs: the build is under way.
        await waitFor("the post-installation script", 120, () =>
          mountsOf(pid).some((m) => m.fstype === "overlay" && m.point.startsWith(`${tree.cache}/`)),
        );
        const mounts = mountsOf(pid);
        for (const dir of ["/usr", "/etc"]) {
          const top = mounts.filter((m) => m.point === dir).at(-1);
          expect(top, `${dir} in mkosi's namespace`).toBeDefined();
          expect(top!.options.split(",")).toContain("ro");
        }
      } finally {
        process.kill(pid, "SIGKILL");
        await build.exited;
      }
      expect(mountsOf("self").filter((m) => m.point === "/usr" || m.point === "/etc")).toEqual(hostBefore);
    });
  },
);
