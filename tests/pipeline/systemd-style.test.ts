// The systemd pattern on a small scale (fixtures/systemd-style): a meson project at the root of the tree,
// a Format=none build image compiling it into a .deb in $PACKAGEDIR (its meson build directory kept in
// BuildDirectory=), a base image installing it through VolatilePackages=, two sysext-style images on the
// base (BaseTrees=%O/base) and a main image made of the base and what the sysexts add. A change reruns
// exactly the steps that read it, across images.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MkosiRun, PACKAGE_CACHE, REPO, runMkosi, sandboxSources } from "./harness.js";

const FIXTURE = join(REPO, "fixtures/systemd-style");

describe("systemd-style fixture", () => {
  let dir = "";
  const output = (path: string) => join(dir, "build/mkosi.output", path);
  const build = async (): Promise<MkosiRun> => {
    const run = await runMkosi(["--json", "build"], {
      cwd: dir,
      env: { MKOSI_CACHE_DIR: join(dir, ".cache") },
    });
    if (run.code !== 0)
      throw new Error(`build failed (${run.code}):\n${run.stderr}\n${run.stdout.slice(-4000)}`);
    return run;
  };
  const edit = (path: string, from: string, to: string) => {
    const text = readFileSync(join(dir, path), "utf8");
    expect(text).toContain(from);
    writeFileSync(join(dir, path), text.replace(from, to));
  };
  const hello = () => execFileSync("chroot", [output("image"), "/usr/bin/hello"], { encoding: "utf8" });
  const buildLog = (run: MkosiRun) =>
    run.events
      .filter((e) => e.type === "log" && e.id === "build/build")
      .map((e) => (e as { line: string }).line)
      .join("\n");

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mkosi-systemd-style-"));
    execFileSync("cp", ["-a", `${FIXTURE}/.`, dir]);
    // What a user of this machine adds (git-ignored): the repositories and the shared package cache.
    const sources = join(dir, "mkosi/mkosi.sandbox/etc/apt/sources.list.d");
    mkdirSync(sources, { recursive: true });
    writeFileSync(join(sources, "mkosi.sources"), sandboxSources("bookworm"));
    writeFileSync(join(dir, "mkosi/mkosi.local.conf"), `[Build]\nPackageCacheDirectory=${PACKAGE_CACHE}\n`);
    for (const path of ["build/mkosi.output", "build/mkosi.builddir"])
      mkdirSync(join(dir, path), { recursive: true });
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 900_000);

  it("builds every image; the main image has the program and both extensions", async () => {
    const run = await build();
    expect(run.ran).toEqual(
      expect.arrayContaining(["build/build", "base/volatile-packages", "main/publish"]),
    );
    expect(hello()).toBe("hello, world\n");
    for (const x of ["a", "b"]) {
      expect(readFileSync(output(`image/usr/share/sysext-${x}/data`), "utf8")).toBe(
        `payload of sysext-${x}\n`,
      );
      expect(
        readFileSync(output(`image/usr/lib/extension-release.d/extension-release.sysext-${x}`), "utf8"),
      ).toBe(readFileSync(output("base/usr/lib/os-release"), "utf8"));
    }
    // The meson build directory is kept in BuildDirectory= (BuildSubdirectory: one per distribution).
    expect(existsSync(join(dir, "build/mkosi.builddir/debian~bookworm~x86-64/build.ninja"))).toBe(true);
    expect((await build()).ran).toEqual([]);
  }, 1_800_000);

  it("a comment-only change: only the build step reruns (identical package, nothing downstream)", async () => {
    edit("src/greet.c", "/* How the program greets. */", "/* How the program greets everyone. */");
    const run = await build();
    expect(run.ran).toEqual(["build/build"]);
    // Incremental: the meson build directory survived, only the changed file was compiled again.
    const log = buildLog(run);
    expect(log).toContain("greet.c");
    expect(log).not.toContain("hello.c.o");
  }, 900_000);

  it("a code change: the package is rebuilt and reinstalled; the base system is not", async () => {
    edit("src/greet.c", '"hello, %s\\n"', '"hi, %s\\n"');
    const run = await build();
    expect(hello()).toBe("hi, world\n");
    expect(run.ran).toEqual(
      expect.arrayContaining(["build/build", "base/volatile-packages", "main/publish"]),
    );
    for (const id of [
      "build/bootstrap",
      "build/packages",
      "base/bootstrap",
      "base/metadata",
      "build/metadata",
    ])
      expect(run.ran).not.toContain(id);
  }, 900_000);

  it("a change to one sysext's configuration reruns that sysext and the main image only", async () => {
    const conf = "mkosi/mkosi.images/sysext-a/mkosi.conf";
    // The [Content] section is the file's last: the sysext gets a host name of its own (/etc/hostname).
    writeFileSync(join(dir, conf), `${readFileSync(join(dir, conf), "utf8")}Hostname=sysext-a\n`);
    const run = await build();
    expect(run.ran.filter((id) => !id.startsWith("sysext-a/") && !id.startsWith("main/"))).toEqual([]);
    expect(run.ran).toEqual(
      expect.arrayContaining(["sysext-a/systemd-setup", "sysext-a/publish", "main/extras"]),
    );
    expect(readFileSync(output("sysext-a/etc/hostname"), "utf8")).toBe("sysext-a\n");
    // What main reads of sysext-a did not change: its extras layer comes out identical, and nothing
    // above it reruns.
    expect(run.ran.filter((id) => id.startsWith("main/"))).toEqual(["main/extras"]);
  }, 900_000);

  it("a change to one sysext's payload reaches the main image in the same build", async () => {
    writeFileSync(
      join(dir, "mkosi/mkosi.images/sysext-b/mkosi.extra/usr/share/sysext-b/data"),
      "new payload\n",
    );
    const run = await build();
    expect(run.ran.filter((id) => !id.startsWith("sysext-b/") && !id.startsWith("main/"))).toEqual([]);
    expect(readFileSync(output("image/usr/share/sysext-b/data"), "utf8")).toBe("new payload\n");
  }, 900_000);
});
