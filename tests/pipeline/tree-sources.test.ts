// A single file as a tree source (ExtraTrees=, SkeletonTrees=), as the reference accepts it: copied to the
// target path itself, into the target when that is a directory already, to /<name> without a target.
// Expected paths recorded from the reference (mkosi 4c021322) on the same configuration.
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTree, runMkosi } from "./harness.js";

describe("single-file tree sources", () => {
  let dir = "";
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("are copied where the reference puts them", async () => {
    dir = await makeTree({
      files: {
        "mkosi.conf": `[Distribution]
Distribution=custom

[Output]
Format=directory

[Content]
ExtraTrees=mkosi.crt:/usr/lib/verity.d/mkosi.crt
ExtraTrees=plain.txt
ExtraTrees=plain.txt:/opt/dir/
ExtraTrees=plain.txt:/etc
SkeletonTrees=plain.txt:/skel/file.txt
`,
        "mkosi.crt": "certificate\n",
        "plain.txt": "plain\n",
        "mkosi.skeleton/etc/os-release": "ID=test\n",
      },
    });
    const run = await runMkosi(["build"], { cwd: dir, env: { MKOSI_CACHE_DIR: join(dir, ".cache") } });
    expect(run.code, run.stderr).toBe(0);
    const image = join(dir, "image");
    expect(readFileSync(join(image, "usr/lib/verity.d/mkosi.crt"), "utf8")).toBe("certificate\n");
    expect(readFileSync(join(image, "plain.txt"), "utf8")).toBe("plain\n");
    // "/opt/dir/" does not exist: the file is named dir (the trailing slash does not make it a directory).
    expect(statSync(join(image, "opt/dir")).isFile()).toBe(true);
    // /etc exists (the skeleton made it): the file goes into it.
    expect(readFileSync(join(image, "etc/plain.txt"), "utf8")).toBe("plain\n");
    expect(readFileSync(join(image, "skel/file.txt"), "utf8")).toBe("plain\n");
  });
});
