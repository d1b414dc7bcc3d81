// BuildSourcesEphemeral=: what scripts write into the build sources stays there (no), is dropped after each
// kind of script (yes), or persists in the build directory for build scripts (buildcache), as in mkosi.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeTree, runMkosi } from "./harness.js";

const conf = (mode: string) => `[Distribution]
Distribution=custom

[Output]
Format=directory
Output=image

[Build]
BuildSourcesEphemeral=${mode}
`;

const BUILD = `#!/bin/sh
set -e
n=$(cat "$SRCDIR/counter" 2>/dev/null || echo 0)
echo $((n + 1)) > "$SRCDIR/counter"
mkdir -p "$DESTDIR/etc"
cp "$SRCDIR/counter" "$DESTDIR/etc/counter"
`;
const POSTINST = '#!/bin/sh\nset -e\necho postinst > "$SRCDIR/postinst-was-here"\n';

async function build(mode: string, extra: Record<string, string> = {}) {
  const dir = await makeTree({
    files: { "mkosi.conf": conf(mode), "mkosi.build": BUILD, "mkosi.postinst": POSTINST, ...extra },
  });
  const run = await runMkosi(["build"], { cwd: dir, env: { MKOSI_CACHE_DIR: join(dir, ".cache") } });
  if (run.code !== 0) throw new Error(`build failed:\n${run.stderr}`);
  return dir;
}

describe("BuildSourcesEphemeral=", () => {
  it("no: scripts write into the sources", async () => {
    const dir = await build("no");
    expect(readFileSync(join(dir, "counter"), "utf8")).toBe("1\n");
    expect(existsSync(join(dir, "postinst-was-here"))).toBe(true);
  });

  it("yes: the sources are untouched, the scripts saw their own writes", async () => {
    const dir = await build("yes");
    expect(existsSync(join(dir, "counter"))).toBe(false);
    expect(existsSync(join(dir, "postinst-was-here"))).toBe(false);
    expect(readFileSync(join(dir, "image/etc/counter"), "utf8")).toBe("1\n");
  });

  it("buildcache: build scripts' writes persist in the build directory, the sources are untouched", async () => {
    const dir = await build("buildcache", { "mkosi.builddir/.keep": "" });
    expect(existsSync(join(dir, "counter"))).toBe(false);
    expect(existsSync(join(dir, "postinst-was-here"))).toBe(false);
    // In the build subdirectory (BuildSubdirectory: <distribution>~<release>~<architecture>), as mkosi.
    const name = dir.split("/").pop()!;
    const overlay = join(dir, "mkosi.builddir", "custom~~x86-64", `mkosi.buildovl.${name}`);
    expect(readFileSync(join(overlay, "counter"), "utf8")).toBe("1\n");
  });
});
