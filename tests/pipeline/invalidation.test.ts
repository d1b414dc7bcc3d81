// Invalidation through the real pipeline: change one input at a time and check that exactly the steps
// that read it (and the steps stacked on them) rerun; a no-op rebuild runs nothing, even without network.
import { spawnSync } from "node:child_process";
import { appendFileSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { MKOSI, makeTree, PACKAGE_CACHE, runMkosi } from "./harness.js";

interface Knobs {
  greeting: string;
  version?: string;
  packages: string;
  sourceDateEpoch?: number;
}

let knobs: Knobs = { greeting: "hello", packages: "dbus" };

const conf = (k: Knobs) => `[Distribution]
Distribution=debian
Release=bookworm

[Output]
Format=directory
ImageId=invalidation
${k.version ? `ImageVersion=${k.version}` : ""}

[Content]
Packages=${k.packages}
${k.sourceDateEpoch ? `SourceDateEpoch=${k.sourceDateEpoch}` : ""}

[Build]
Incremental=yes
PackageCacheDirectory=${PACKAGE_CACHE}
Environment=GREETING=${k.greeting}
`;

/** The image's steps in pipeline order (no metadata: it runs only when it has to refresh). */
const STEPS = [
  "skeleton",
  "bootstrap",
  "packages",
  "prepare",
  "build-overlay",
  "build",
  "extras",
  "postinst",
  "config-files",
  "systemd-setup",
  "cleanup",
  "publish",
];

/** Steps from `first` on (layers stack, so everything above a changed layer reruns). */
function from(first: string, also: string[] = []): string[] {
  const after = STEPS.slice(STEPS.indexOf(first));
  return [...new Set([...after, ...also])].map((step) => `main/${step}`).sort();
}

function without(steps: string[], ...removed: string[]): string[] {
  return steps.filter((id) => !removed.some((step) => id === `main/${step}`));
}

describe("invalidation", () => {
  let dir = "";
  const env = () => ({ MKOSI_CACHE_DIR: join(dir, ".cache") });
  const reconfigure = (change: Partial<Knobs>) => {
    knobs = { ...knobs, ...change };
    writeFileSync(join(dir, "mkosi.conf"), conf(knobs));
  };
  const build = async () => {
    const run = await runMkosi(["--json", "build"], { cwd: dir, env: env() });
    if (run.code !== 0)
      throw new Error(`build failed (${run.code}):\n${run.stderr}\n${run.stdout.slice(-3000)}`);
    return run.ran.sort();
  };

  beforeAll(async () => {
    dir = await makeTree({
      files: {
        "mkosi.conf": conf(knobs),
        "mkosi.skeleton/etc/skeleton-file": "one\n",
        "mkosi.extra/etc/motd": "one\n",
        "mkosi.prepare": '#!/bin/sh\necho "prepare $1 $GREETING" > "$BUILDROOT/etc/prepare-$1"\n',
        "mkosi.build": '#!/bin/sh\nmkdir -p "$DESTDIR/etc"\necho "$GREETING" > "$DESTDIR/etc/built"\n',
        "mkosi.postinst": '#!/bin/sh\ntouch "$BUILDROOT/etc/postinst-ran"\n',
      },
    });
    await build();
  }, 900_000);

  it("a no-op rebuild runs nothing, and needs no network", () => {
    // In a new network namespace with only loopback, any repository access would fail the build.
    const result = spawnSync("unshare", ["--net", MKOSI, "--json", "build"], {
      cwd: dir,
      env: { ...process.env, ...env() },
      encoding: "utf8",
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).not.toMatch(/"type":"started"/);
  }, 120_000);

  it("touching a file without changing it reruns nothing", async () => {
    const motd = join(dir, "mkosi.extra/etc/motd");
    utimesSync(motd, new Date(), new Date(Date.now() + 5000));
    writeFileSync(join(dir, "mkosi.extra/etc/motd"), "one\n");
    expect(await build()).toEqual([]);
  }, 300_000);

  it("an extra tree file reruns extras and the steps after it", async () => {
    writeFileSync(join(dir, "mkosi.extra/etc/motd"), "two\n");
    expect(await build()).toEqual(from("extras"));
    expect(readFileSync(join(dir, "invalidation/etc/motd"), "utf8")).toBe("two\n");
  }, 300_000);

  it("a build script change reruns the build and what follows, not the cached image", async () => {
    appendFileSync(join(dir, "mkosi.build"), 'echo more > "$DESTDIR/etc/more"\n');
    expect(await build()).toEqual(from("build"));
  }, 300_000);

  it("an environment variable reruns the scripts that see it, not package installation", async () => {
    reconfigure({ greeting: "bye" });
    // The cached image (up to the build overlay) is out of date: CacheOnly=auto syncs the metadata, and
    // since the repositories did not change, bootstrap and packages stay cached (early cutoff).
    expect(await build()).toEqual(from("prepare", ["metadata"]));
    expect(readFileSync(join(dir, "invalidation/etc/built"), "utf8")).toBe("bye\n");
  }, 300_000);

  it("ImageVersion= reruns what reads it, and renames the output", async () => {
    reconfigure({ version: "2" });
    // The scripts see it in $MKOSI_CONFIG and rerun; the build's output ($DESTDIR) and the layers below it
    // come out the same, so the extra trees stay cached (early cutoff); os-release changes.
    expect(await build()).toEqual(without(from("prepare", ["metadata"]), "extras"));
    expect(readFileSync(join(dir, "invalidation_2/usr/lib/os-release"), "utf8")).toMatch(
      /^IMAGE_VERSION="2"$/m,
    );
  }, 300_000);

  it("a skeleton file reruns everything stacked on the skeleton", async () => {
    writeFileSync(join(dir, "mkosi.skeleton/etc/skeleton-file"), "two\n");
    const ran = await build();
    // The cached image is out of date, so CacheOnly=auto refreshes the repository metadata too.
    expect(ran).toEqual(from("skeleton", ["metadata"]));
  }, 600_000);

  it("an added package reruns packages and above, not the bootstrap", async () => {
    reconfigure({ packages: "dbus,less" });
    const ran = await build();
    expect(ran).toEqual(from("packages", ["metadata"]));
    expect(ran).not.toContain("main/bootstrap");
  }, 600_000);

  it("SourceDateEpoch= reruns the scripts that see it and the output", async () => {
    reconfigure({ sourceDateEpoch: 1700000000 });
    // The scripts' outputs come out the same, so extras and config files stay cached; systemd setup,
    // cleanup and publishing read the epoch.
    expect(await build()).toEqual(without(from("prepare", ["metadata"]), "extras", "config-files"));
  }, 300_000);
});
