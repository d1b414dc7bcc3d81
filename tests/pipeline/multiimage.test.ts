// Images that read other images' outputs (%O/… in BaseTrees=, ExtraTrees=, SkeletonTrees=, ToolsTree=,
// split artifacts written through $OUTPUTDIR, scripts that read the output directory): a change in the
// producer reaches the consumer in the same build, and no step of the consumer that reads the producer's
// output starts before the producer's publish has finished. Distribution=custom images build in a
// fraction of a second, so every case is a real build.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { EngineEvent } from "../../engine/api.js";
import { type MkosiRun, makeTree, runMkosi } from "./harness.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function tree(files: Record<string, string>): Promise<string> {
  const dir = await makeTree({ files });
  dirs.push(dir);
  // Outputs go to mkosi.output/ when it exists (else into the configuration directory itself).
  mkdirSync(join(dir, "mkosi.output"), { recursive: true });
  return dir;
}

async function build(dir: string, args: string[] = []): Promise<MkosiRun> {
  const run = await runMkosi(["--json", ...args, "build"], {
    cwd: dir,
    env: { MKOSI_CACHE_DIR: join(dir, ".cache") },
  });
  if (run.code !== 0)
    throw new Error(`build failed (${run.code}):\n${run.stderr}\n${run.stdout.slice(-4000)}`);
  return run;
}

function write(dir: string, path: string, content: string): void {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), content, content.startsWith("#!") ? { mode: 0o755 } : {});
}

/** Index of the event that made `id`'s output available (finished or cached). */
function available(events: EngineEvent[], id: string): number {
  return events.findIndex((e) => (e.type === "finished" || e.type === "cached") && e.id === id);
}

/** Every consumer step that started did so after the producer's output was available. */
function expectAfter(run: MkosiRun, producer: string, consumers: string[]): void {
  const ready = available(run.events, producer);
  expect(ready, `${producer} finished or cached`).toBeGreaterThanOrEqual(0);
  for (const consumer of consumers) {
    const started = run.events.findIndex((e) => e.type === "started" && e.id === consumer);
    if (started >= 0) expect(started, `${consumer} starts after ${producer}`).toBeGreaterThan(ready);
  }
}

const CUSTOM = "[Distribution]\nDistribution=custom\n";

/** A directory subimage `alpha` with one file whose content the tests change. */
function alpha(content: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    "mkosi.images/alpha/mkosi.conf": "[Output]\nFormat=directory\n",
    "mkosi.images/alpha/mkosi.extra/etc/alpha": content,
    ...extra,
  };
}

describe("a main image reading a subimage's output", () => {
  it("BaseTrees=%O/alpha: the new base in the same build (the stale-base case)", async () => {
    const dir = await tree({
      "mkosi.conf": `${CUSTOM}\n[Config]\nDependencies=alpha\n\n[Output]\nFormat=directory\n\n[Content]\nBaseTrees=%O/alpha\n`,
      "mkosi.extra/etc/main": "main\n",
      ...alpha("one\n"),
    });
    const first = await build(dir);
    expect(readFileSync(join(dir, "mkosi.output/image/etc/alpha"), "utf8")).toBe("one\n");
    expectAfter(first, "alpha/publish", ["main/base-trees"]);

    write(dir, "mkosi.images/alpha/mkosi.extra/etc/alpha", "two\n");
    const second = await build(dir);
    expect(readFileSync(join(dir, "mkosi.output/image/etc/alpha"), "utf8")).toBe("two\n");
    expectAfter(second, "alpha/publish", ["main/base-trees"]);
    expect(second.ran).toContain("main/base-trees");

    // Nothing changed: nothing runs.
    const third = await build(dir);
    expect(third.ran).toEqual([]);
  });

  it("ExtraTrees=%O/alpha as a tree source", async () => {
    const dir = await tree({
      "mkosi.conf": `${CUSTOM}\n[Config]\nDependencies=alpha\n\n[Output]\nFormat=directory\n\n[Content]\nExtraTrees=%O/alpha:/extra-alpha\n`,
      ...alpha("one\n"),
    });
    const first = await build(dir);
    expect(readFileSync(join(dir, "mkosi.output/image/extra-alpha/etc/alpha"), "utf8")).toBe("one\n");
    expectAfter(first, "alpha/publish", ["main/extras"]);

    write(dir, "mkosi.images/alpha/mkosi.extra/etc/alpha", "two\n");
    const second = await build(dir);
    expect(readFileSync(join(dir, "mkosi.output/image/extra-alpha/etc/alpha"), "utf8")).toBe("two\n");
    expectAfter(second, "alpha/publish", ["main/extras"]);
  });

  it("SkeletonTrees=%O/alpha (which, as upstream, must exist when the configuration is read)", async () => {
    const dir = await tree({
      "mkosi.conf": `${CUSTOM}\n[Config]\nDependencies=alpha\n\n[Output]\nFormat=directory\n`,
      ...alpha("one\n"),
    });
    await build(dir);
    write(
      dir,
      "mkosi.conf",
      `${CUSTOM}\n[Config]\nDependencies=alpha\n\n[Output]\nFormat=directory\n\n[Content]\nSkeletonTrees=%O/alpha:/skeleton-alpha\n`,
    );
    write(dir, "mkosi.images/alpha/mkosi.extra/etc/alpha", "two\n");
    const second = await build(dir);
    expect(readFileSync(join(dir, "mkosi.output/image/skeleton-alpha/etc/alpha"), "utf8")).toBe("two\n");
    expectAfter(second, "alpha/publish", ["main/skeleton"]);

    write(dir, "mkosi.images/alpha/mkosi.extra/etc/alpha", "three\n");
    const third = await build(dir);
    expect(readFileSync(join(dir, "mkosi.output/image/skeleton-alpha/etc/alpha"), "utf8")).toBe("three\n");
    expectAfter(third, "alpha/publish", ["main/skeleton"]);
  });

  it("a tar output (%O/alpha.tar.zst) as an extra tree", async () => {
    const dir = await tree({
      "mkosi.conf": `${CUSTOM}\n[Config]\nDependencies=alpha\n\n[Output]\nFormat=directory\n\n[Content]\nExtraTrees=%O/alpha.tar.zst:/from-tar\n`,
      "mkosi.images/alpha/mkosi.conf": "[Output]\nFormat=tar\n",
      "mkosi.images/alpha/mkosi.extra/etc/alpha": "one\n",
    });
    const first = await build(dir);
    expect(readFileSync(join(dir, "mkosi.output/image/from-tar/etc/alpha"), "utf8")).toBe("one\n");
    expectAfter(first, "alpha/publish", ["main/extras"]);

    write(dir, "mkosi.images/alpha/mkosi.extra/etc/alpha", "two\n");
    const second = await build(dir);
    expect(readFileSync(join(dir, "mkosi.output/image/from-tar/etc/alpha"), "utf8")).toBe("two\n");
    expectAfter(second, "alpha/publish", ["main/extras"]);
  });

  it("a split artifact written through $OUTPUTDIR (%O/alpha.root-%a.raw) as a single-file extra tree", async () => {
    const postinst = (text: string) =>
      `#!/bin/sh\nset -e\nprintf '${text}' > "$OUTPUTDIR/alpha.root-$(uname -m | tr _ -).raw"\n`;
    const dir = await tree({
      "mkosi.conf": `${CUSTOM}\n[Config]\nDependencies=alpha\n\n[Output]\nFormat=directory\n\n[Content]\nExtraTrees=%O/alpha.root-%a.raw:/usr/share/alpha.raw\n`,
      ...alpha("one\n", { "mkosi.images/alpha/mkosi.postinst": postinst("split one") }),
    });
    const first = await build(dir);
    expect(readFileSync(join(dir, "mkosi.output/image/usr/share/alpha.raw"), "utf8")).toBe("split one");
    expectAfter(first, "alpha/publish", ["main/extras"]);

    write(dir, "mkosi.images/alpha/mkosi.postinst", postinst("split two"));
    const second = await build(dir);
    expect(readFileSync(join(dir, "mkosi.output/image/usr/share/alpha.raw"), "utf8")).toBe("split two");
    expectAfter(second, "alpha/publish", ["main/extras"]);
  });

  it("a script that reads the output directory: the whole dependency is its input", async () => {
    const dir = await tree({
      "mkosi.conf": `${CUSTOM}\n[Config]\nDependencies=alpha\n\n[Output]\nFormat=directory\nOutputDirectory=mkosi.output\n`,
      // The build sources (the configuration directory) hold the output directory: the script reads
      // alpha's output through them, which the planner cannot see.
      "mkosi.postinst":
        '#!/bin/sh\nset -e\nmkdir -p "$BUILDROOT/etc"\ncat "$SRCDIR/mkosi.output/alpha/etc/alpha" > "$BUILDROOT/etc/copied"\n',
      ...alpha("one\n"),
    });
    const first = await build(dir);
    expect(readFileSync(join(dir, "mkosi.output/image/etc/copied"), "utf8")).toBe("one\n");
    expectAfter(first, "alpha/publish", ["main/postinst"]);

    write(dir, "mkosi.images/alpha/mkosi.extra/etc/alpha", "two\n");
    const second = await build(dir);
    expect(readFileSync(join(dir, "mkosi.output/image/etc/copied"), "utf8")).toBe("two\n");
    expectAfter(second, "alpha/publish", ["main/postinst"]);
  });

  it("ToolsTree=%O/tools: the steps that run programs use the new tree", async () => {
    // A tiny tools tree: dash, mkdir and their libraries, plus a program the main image's script runs.
    const usr = await mkdtemp(join(tmpdir(), "mkosi-tiny-usr-"));
    dirs.push(usr);
    const programs = ["/usr/bin/dash", "/usr/bin/mkdir"];
    const libs = programs.flatMap((program) =>
      execFileSync("ldd", [program], { encoding: "utf8" })
        .split("\n")
        .map((line) => /(\/\S+)/.exec(line)?.[1])
        .filter((path): path is string => !!path),
    );
    for (const path of new Set([...programs, ...libs])) {
      // At the path the loader asks for (/lib64/ld-linux-x86-64.so.2, …), below /usr (merged /usr).
      const target = join(usr, path.startsWith("/usr/") ? path : `/usr${path}`);
      mkdirSync(dirname(target), { recursive: true });
      execFileSync("cp", ["--dereference", path, target]);
    }
    for (const [link, to] of [
      ["bin", "usr/bin"],
      ["lib", "usr/lib"],
      ["lib64", "usr/lib64"],
      ["usr/bin/sh", "dash"],
    ])
      execFileSync("ln", ["-sfn", to!, join(usr, link!)]);
    const tool = (version: string) => `#!/bin/sh\necho "tool ${version}"\n`;
    const main = `${CUSTOM}\n[Config]\nDependencies=tools\n\n[Output]\nFormat=directory\n`;
    // ToolsTree= must exist when the configuration is read (as upstream): build the tree first.
    const dir = await tree({
      "mkosi.conf": main,
      "mkosi.images/tools/mkosi.conf": `[Output]\nFormat=directory\n\n[Content]\nBaseTrees=${usr}\n`,
      "mkosi.images/tools/mkosi.extra/usr/bin/tiny-tool": tool("one"),
    });
    await build(dir);
    write(dir, "mkosi.conf", `${main}\n[Build]\nToolsTree=%O/tools\n`);
    write(
      dir,
      "mkosi.postinst",
      '#!/bin/sh\nset -e\nmkdir -p "$BUILDROOT/etc"\ntiny-tool > "$BUILDROOT/etc/tool"\n',
    );
    write(dir, "mkosi.images/tools/mkosi.extra/usr/bin/tiny-tool", tool("two"));
    const second = await build(dir);
    expect(readFileSync(join(dir, "mkosi.output/image/etc/tool"), "utf8")).toBe("tool two\n");
    expectAfter(second, "tools/publish", ["main/postinst"]);

    write(dir, "mkosi.images/tools/mkosi.extra/usr/bin/tiny-tool", tool("three"));
    const third = await build(dir);
    expect(readFileSync(join(dir, "mkosi.output/image/etc/tool"), "utf8")).toBe("tool three\n");
    expectAfter(third, "tools/publish", ["main/postinst"]);
    expect((await build(dir)).ran).toEqual([]);
  });

  it("a producer that reruns with identical output leaves its consumers cached", async () => {
    const dir = await tree({
      "mkosi.conf": `${CUSTOM}\n[Config]\nDependencies=alpha\n\n[Output]\nFormat=directory\n\n[Content]\nBaseTrees=%O/alpha\n`,
      ...alpha("one\n", {
        // Reads $MKOSI_CONFIG (so it reruns on any configuration change) but writes the same file.
        "mkosi.images/alpha/mkosi.postinst":
          '#!/bin/sh\nmkdir -p "$BUILDROOT/etc"\necho fixed > "$BUILDROOT/etc/fixed"\n',
      }),
    });
    await build(dir);
    write(
      dir,
      "mkosi.images/alpha/mkosi.conf",
      "[Output]\nFormat=directory\n\n[Build]\nEnvironment=UNUSED=1\n",
    );
    const second = await build(dir);
    expect(second.ran).toContain("alpha/postinst");
    expect(second.ran.filter((id) => id.startsWith("main/"))).toEqual([]);
  });

  it("an output removed by hand is published again, and its consumers stay cached", async () => {
    const dir = await tree({
      "mkosi.conf": `${CUSTOM}\n[Config]\nDependencies=alpha\n\n[Output]\nFormat=directory\n\n[Content]\nBaseTrees=%O/alpha\n`,
      ...alpha("one\n"),
    });
    await build(dir);
    rmSync(join(dir, "mkosi.output/alpha"), { recursive: true });
    const second = await build(dir);
    expect(second.ran).toEqual(["alpha/publish"]);
    expect(existsSync(join(dir, "mkosi.output/alpha/etc/alpha"))).toBe(true);
  });
});

/** Most nodes running at once during a build, from its started/finished events. */
function maxConcurrent(events: EngineEvent[]): number {
  let running = 0;
  let most = 0;
  for (const e of events) {
    if (e.type === "started") most = Math.max(most, ++running);
    else if (e.type === "finished" || e.type === "failed") running--;
  }
  return most;
}

describe("independent images", () => {
  // Each image's post-installation script announces itself and waits for the other's announcement: the
  // build can only succeed if both scripts run at the same time (they give up after 60 s).
  const rendezvous = (me: string, other: string) =>
    `#!/bin/sh\nset -e\ntouch "$SRCDIR/${me}.here"\ni=0\nwhile [ ! -e "$SRCDIR/${other}.here" ]; do\n  i=$((i + 1)); [ $i -lt 600 ] || exit 1; sleep 0.1\ndone\n`;

  it("run concurrently, and -j1 runs one step at a time", async () => {
    const dir = await tree({
      "mkosi.conf": `${CUSTOM}\n[Config]\nDependencies=alpha,beta\n\n[Output]\nFormat=none\n`,
      "mkosi.images/alpha/mkosi.conf": "[Output]\nFormat=directory\n",
      "mkosi.images/alpha/mkosi.postinst": rendezvous("alpha", "beta"),
      "mkosi.images/beta/mkosi.conf": "[Output]\nFormat=directory\n",
      "mkosi.images/beta/mkosi.postinst": rendezvous("beta", "alpha"),
    });
    const run = await build(dir, ["--jobs", "2"]);
    expect(run.ran).toEqual(expect.arrayContaining(["alpha/postinst", "beta/postinst"]));
    expect(maxConcurrent(run.events)).toBe(2);

    // One job: never two steps at once (and no rendezvous: the scripts no longer wait).
    for (const image of ["alpha", "beta"])
      write(dir, `mkosi.images/${image}/mkosi.postinst`, "#!/bin/sh\necho serial\n");
    const serial = await build(dir, ["-j1"]);
    expect(serial.ran).toEqual(expect.arrayContaining(["alpha/postinst", "beta/postinst"]));
    expect(maxConcurrent(serial.events)).toBe(1);
  });

  it("identical steps of different images run once", async () => {
    // Two subimages with the same content: every step up to the output has the same key in both.
    const dir = await tree({
      "mkosi.conf": `${CUSTOM}\n[Config]\nDependencies=alpha,beta\n\n[Output]\nFormat=none\n`,
      "mkosi.images/alpha/mkosi.conf": "[Output]\nFormat=directory\n\n[Content]\nExtraTrees=%D/shared\n",
      "mkosi.images/beta/mkosi.conf": "[Output]\nFormat=directory\n\n[Content]\nExtraTrees=%D/shared\n",
      "shared/etc/shared": "same\n",
    });
    const run = await build(dir);
    for (const step of ["skeleton", "extras", "config-files", "systemd-setup", "cleanup"]) {
      const started = run.ran.filter((id) => id === `alpha/${step}` || id === `beta/${step}`);
      expect(started, step).toHaveLength(1);
    }
    // Each image is published (different names), both with the shared content.
    expect(run.ran).toEqual(expect.arrayContaining(["alpha/publish", "beta/publish"]));
    for (const image of ["alpha", "beta"])
      expect(readFileSync(join(dir, `mkosi.output/${image}/etc/shared`), "utf8")).toBe("same\n");
  });
});
