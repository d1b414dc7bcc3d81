// Bad input through the real pipeline: a failing script, a package that does not exist and a broken
// mirror each fail the build with a non-zero exit that names the failing step and shows its log tail;
// the cache stays correct, so fixing the input makes the next build succeed, reusing what had succeeded.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { makeTree, PACKAGE_CACHE, runMkosi } from "./harness.js";

const conf = (packages: string, mirror = "") => `[Distribution]
Distribution=debian
Release=bookworm
${mirror}

[Output]
Format=directory
ImageId=failures

[Content]
Packages=${packages}

[Build]
PackageCacheDirectory=${PACKAGE_CACHE}
`;

describe("failures", () => {
  let dir = "";
  const env = () => ({ MKOSI_CACHE_DIR: join(dir, ".cache") });
  const build = (...args: string[]) => runMkosi([...args, "build"], { cwd: dir, env: env() });

  beforeAll(async () => {
    dir = await makeTree({
      files: {
        "mkosi.conf": conf("dbus"),
        "mkosi.postinst": "#!/bin/sh\necho 'about to fail' >&2\necho 'last words'\nexit 3\n",
      },
    });
  });

  it("a failing script fails the build, names the step and shows its output", async () => {
    const run = await build();
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/\[main\] postinst/);
    expect(run.stderr).toContain("last words");
    expect(run.stderr).toMatch(/exit status 3/);
    expect(run.stderr).toMatch(/full log: \S+\.log/);
  }, 900_000);

  it("after fixing the script, the steps that succeeded are reused", async () => {
    writeFileSync(join(dir, "mkosi.postinst"), '#!/bin/sh\ntouch "$BUILDROOT/etc/fixed"\n', { mode: 0o755 });
    const run = await build("--json");
    expect(run.code, run.stderr).toBe(0);
    expect(run.cached).toContain("main/bootstrap");
    expect(run.cached).toContain("main/packages");
    expect(run.ran).toContain("main/postinst");
  }, 600_000);

  it("a package that does not exist fails the packages step with apt's message", async () => {
    writeFileSync(join(dir, "mkosi.conf"), conf("dbus,no-such-package-mkosi-ts"));
    const run = await build();
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/\[main\] packages/);
    expect(run.stderr).toMatch(/no-such-package-mkosi-ts/);
    // Nothing after the failed step was published.
    const again = await build("--json");
    expect(again.code).not.toBe(0);
    expect(again.cached).toContain("main/bootstrap");
  }, 600_000);

  it("a broken mirror fails the metadata step with a clear error", async () => {
    const broken = await makeTree({
      files: { "mkosi.conf": conf("dbus", "Mirror=http://127.0.0.1:9/debian") },
    });
    // Without the sandbox override the configured Mirror= is used.
    const run = await runMkosi(["--sandbox-tree=", "build"], {
      cwd: broken,
      env: { MKOSI_CACHE_DIR: join(broken, ".cache") },
    });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/\[main\] metadata/);
    expect(run.stderr).toMatch(/127\.0\.0\.1:9/);
  }, 300_000);
});
