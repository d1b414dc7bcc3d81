// --debug-shell through a real Debian image: a failing `.chroot` post-installation script is followed by
// a shell inside the image (through mkosi-chroot, as the script ran), with what the script left in it;
// commands come through a pipe on stdin. The build still fails, and the failed step is not cached: a
// second build without the flag runs it again (reusing the bootstrap) and reads nothing from stdin.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTree, PACKAGE_CACHE, runMkosi } from "./harness.js";

const CONF = `[Distribution]
Distribution=debian
Release=bookworm

[Output]
Format=directory
ImageId=debug-shell

[Build]
PackageCacheDirectory=${PACKAGE_CACHE}
`;

const POSTINST = "#!/bin/sh\necho left-by-postinst > /left-behind\necho 'about to fail'\nexit 3\n";

/** Each line shows something only the inside of the image has. */
const SHELL_INPUT = [
  "echo marker-$((6*7))",
  "cat /etc/os-release | head -1",
  "cat /left-behind",
  'echo "container=$container buildroot=$(test -e /buildroot && echo present || echo absent)"',
  "exit",
  "",
].join("\n");

describe("--debug-shell", () => {
  let dir = "";
  const env = () => ({ MKOSI_CACHE_DIR: join(dir, ".cache") });

  beforeAll(async () => {
    dir = await makeTree({ files: { "mkosi.conf": CONF, "mkosi.postinst.chroot": POSTINST } });
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("a failing chroot script opens a shell inside the image; the build still fails", async () => {
    const run = await runMkosi(["--debug-shell", "build"], { cwd: dir, env: env(), input: SHELL_INPUT });
    expect(run.code, run.stderr).not.toBe(0);
    expect(run.stdout).toContain("marker-42");
    expect(run.stdout).toMatch(/^PRETTY_NAME="Debian GNU\/Linux 12 \(bookworm\)"$/m);
    expect(run.stdout).toContain("left-by-postinst");
    expect(run.stdout).toContain("container=mkosi buildroot=absent");
    expect(run.stderr).toContain(
      "postinst script mkosi.postinst.chroot failed with exit status 3: starting a debug shell",
    );
    expect(run.stderr).toMatch(/\[main\] postinst ERROR/);
  }, 900_000);

  it("without the flag nothing is interactive, and the failed step runs again", async () => {
    const run = await runMkosi(["--json", "build"], { cwd: dir, env: env(), input: SHELL_INPUT });
    expect(run.code, run.stderr).not.toBe(0);
    expect(run.stdout).not.toContain("marker-42");
    expect(run.stderr).not.toContain("debug shell");
    expect(run.cached).toContain("main/bootstrap");
    expect(run.ran).toContain("main/postinst");
  }, 600_000);
});
