// Cutoff across image layers: a layer's identity is the content of the stack below it (the output digest
// of the layer below, a Merkle chain), not the keys of those layers. Two adjacent layers that both rerun
// and both yield identical content leave every layer above them cached; and those cached layers, later
// used below a layer that does rerun, are mounted on a stack of the right content.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MkosiRun, makeTree, runMkosi } from "./harness.js";

const conf = (extra: string) => `[Distribution]
Distribution=custom

[Output]
Format=directory

[Content]
${extra}
`;

describe("cutoff across layers", () => {
  let dir = "";
  const build = async (): Promise<MkosiRun> => {
    const run = await runMkosi(["--json", "build"], {
      cwd: dir,
      env: { MKOSI_CACHE_DIR: join(dir, ".cache") },
    });
    if (run.code !== 0)
      throw new Error(`build failed (${run.code}):\n${run.stderr}\n${run.stdout.slice(-3000)}`);
    return run;
  };

  beforeAll(async () => {
    dir = await makeTree({
      files: {
        "mkosi.conf": conf(""),
        // Both scripts read $MKOSI_CONFIG (so both rerun on any configuration change), neither uses it.
        "mkosi.prepare":
          '#!/bin/sh\nset -e\nmkdir -p "$BUILDROOT/etc"\necho prepared > "$BUILDROOT/etc/prepared"\n',
        "mkosi.postinst":
          '#!/bin/sh\nset -e\necho installed > "$BUILDROOT/etc/installed"\necho more >> "$BUILDROOT/etc/prepared"\n',
      },
    });
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("two adjacent layers rerun with identical content: the layers above stay cached", async () => {
    const first = await build();
    expect(first.ran).toContain("main/postinst");
    writeFileSync(join(dir, "mkosi.conf"), conf("Environment=UNUSED=1"));
    const second = await build();
    // prepare and postinst are adjacent layers (no extras, no build scripts between them).
    expect(second.ran.sort()).toEqual(["main/postinst", "main/prepare"]);
    for (const id of ["main/config-files", "main/systemd-setup", "main/cleanup", "main/publish"])
      expect(second.cached).toContain(id);
  });

  it("a cached layer above them is mounted on a stack of the same content", async () => {
    // cleanup reruns (RemoveFiles=) on top of systemd-setup and config-files, cached, which were built on
    // earlier prepare/postinst artifacts (the scripts rerun again, with identical output once more).
    writeFileSync(join(dir, "mkosi.conf"), conf("Environment=UNUSED=1\nRemoveFiles=/etc/installed"));
    const third = await build();
    expect(third.ran.sort()).toEqual(["main/cleanup", "main/postinst", "main/prepare", "main/publish"]);
    const output = join(dir, "image");
    expect(readFileSync(join(output, "etc/prepared"), "utf8")).toBe("prepared\nmore\n");
    expect(() => readFileSync(join(output, "etc/installed"))).toThrow();
    // And a no-op build after all that runs nothing.
    expect((await build()).ran).toEqual([]);
  });
});
