// Configure scripts: the configuration printed by mkosi.configure is what the build uses; settings it
// leaves out fall back to their defaults; unknown settings are an error.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeTree, runMkosi } from "../pipeline/harness.js";

const CONF = "[Distribution]\nDistribution=custom\n\n[Output]\nFormat=directory\nImageId=configured\n";
const BUILD =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
  '#!/bin/sh\nmkdir -p "$DESTDIR/etc"\necho "${FROM_CONFIGURE:-unset} ${IMAGE_ID:-none}" > "$DESTDIR/etc/configured"\n';

async function build(configure: string | ((dir: string) => string)) {
  const dir = await makeTree({ files: { "mkosi.conf": CONF, "mkosi.build": BUILD } });
  const script = typeof configure === "string" ? configure : configure(dir);
  writeFileSync(join(dir, "mkosi.configure"), script, { mode: 0o755 });
  const run = await runMkosi(["build"], { cwd: dir, env: { MKOSI_CACHE_DIR: join(dir, ".cache") } });
  return { dir, run };
}

describe("configure scripts", () => {
  it("the printed configuration is the one built", async () => {
    const { dir, run } = await build(
      `#!/bin/sh\nsed 's/"Environment": {}/"Environment": {"FROM_CONFIGURE": "yes"}/'\n`,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(readFileSync(join(dir, "configured/etc/configured"), "utf8")).toBe("yes configured\n");
  }, 120_000);

  it("settings left out take their defaults", async () => {
    // Print only a few settings: ImageId= falls back to its default (none), so the output is "image".
    const { dir, run } = await build(
      (tree) =>
        `#!/bin/sh\ncat > /dev/null\necho '{"Distribution": "custom", "Format": "directory", "Output": "image", "BuildScripts": ["${tree}/mkosi.build"]}'\n`,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(readFileSync(join(dir, "image/etc/configured"), "utf8")).toBe("unset none\n");
  }, 120_000);

  it("an unknown setting is an error", async () => {
    const { run } = await build("#!/bin/sh\nsed 's/^{/{\"NoSuchSetting\": 1, /'\n");
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/unknown setting NoSuchSetting/);
  }, 120_000);

  it("mkosi graph plans the configuration the scripts print", async () => {
    const dir = await makeTree({ files: { "mkosi.conf": CONF, "mkosi.build": BUILD } });
    const env = { MKOSI_CACHE_DIR: join(dir, ".cache") };
    const nodes = async () => {
      const run = await runMkosi(["graph", "--format=json"], { cwd: dir, env });
      expect(run.code, run.stderr).toBe(0);
      return (JSON.parse(run.stdout) as { nodes: { id: string }[] }).nodes.map((n) => n.id);
    };
    expect(await nodes()).toContain("main/publish");
    // Format=none stops after the build scripts: no output steps in the plan.
    writeFileSync(
      join(dir, "mkosi.configure"),
      `#!/bin/sh\nsed 's/"Format": "directory"/"Format": "none"/'\n`,
      {
        mode: 0o755,
      },
    );
    const configured = await nodes();
    expect(configured).toContain("main/build");
    expect(configured).not.toContain("main/publish");
  }, 120_000);
});
