// Distribution=custom: the root comes from base trees (a tar archive and a directory), skeleton trees and
// prepare scripts; no package manager node is planned, and mkosi-install says there is none. And a
// package-managed image on top of a base tree: only Packages= are installed (no bootstrap).
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveRpmTools, rpmRepository, testPackages } from "../distros/localrepo.js";
import { makeTree, runMkosi } from "./harness.js";

const root = process.getuid?.() === 0;
let base = "";

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "mkosi-custom-"));
});
afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

async function build(dir: string) {
  const run = await runMkosi(["--json", "build"], {
    cwd: dir,
    env: { MKOSI_CACHE_DIR: join(dir, ".cache") },
  });
  if (run.code !== 0)
    throw new Error(`build failed (${run.code}):\n${run.stderr}\n${run.stdout.slice(-3000)}`);
  return run;
}

describe.skipIf(!root)("Distribution=custom", () => {
  it("builds the root from base trees, skeleton trees and prepare scripts", async () => {
    const tarSource = join(base, "tar-source");
    await mkdir(join(tarSource, "usr/lib"), { recursive: true });
    await writeFile(join(tarSource, "usr/lib/os-release"), "ID=custom-base\n");
    await writeFile(join(tarSource, "usr/lib/from-tar"), "tar\n");
    execFileSync("tar", ["-C", tarSource, "-cf", join(base, "base.tar"), "."]);
    const dirBase = join(base, "dir-base");
    await mkdir(join(dirBase, "etc"), { recursive: true });
    await writeFile(join(dirBase, "etc/from-dir"), "dir\n");
    const dir = await makeTree({
      files: {
        "mkosi.conf": `[Distribution]\nDistribution=custom\n\n[Output]\nFormat=directory\nOutput=image\n\n[Content]\nBaseTrees=${join(base, "base.tar")}\n          ${dirBase}\n`,
        "mkosi.skeleton/etc/from-skeleton": "skeleton\n",
        "mkosi.prepare": `#!/bin/sh
set -e
[ "$1" = final ] || exit 0
echo prepared > "$BUILDROOT/etc/from-prepare"
if mkosi-install something 2>"$BUILDROOT/etc/mkosi-install-error"; then exit 1; fi
`,
      },
    });
    const run = await build(dir);
    const image = join(dir, "image");
    const read = (path: string) => readFileSync(join(image, path), "utf8");
    expect(read("usr/lib/os-release")).toMatch(/^ID=custom-base$/m);
    expect(read("usr/lib/from-tar")).toBe("tar\n");
    expect(read("etc/from-dir")).toBe("dir\n");
    expect(read("etc/from-skeleton")).toBe("skeleton\n");
    expect(read("etc/from-prepare")).toBe("prepared\n");
    expect(read("etc/mkosi-install-error")).toMatch(/no package manager for this distribution/);
    const steps = run.ran.map((id) => id.split("/")[1]);
    expect(steps).toEqual(expect.arrayContaining(["base-trees", "skeleton", "prepare", "publish"]));
    for (const step of ["metadata", "bootstrap", "packages"]) expect(steps).not.toContain(step);
  });

  it("splits the image's os-release and a tar archive of its tree out next to the output (SplitArtifacts=)", async () => {
    const conf = (format: string) =>
      `[Distribution]\nDistribution=custom\n\n[Output]\nFormat=${format}\nOutput=image\nImageId=split\nImageVersion=7\nSplitArtifacts=os-release,tar\n`;
    const dir = await makeTree({
      files: {
        "mkosi.conf": conf("cpio"),
        "mkosi.skeleton/usr/lib/os-release": "ID=custom\n",
        "mkosi.skeleton/etc/hello": "hello\n",
      },
    });
    let run = await build(dir);
    expect(run.ran).toContain("main/split-root");
    // The os-release as the image has it (config-files added IMAGE_ID and IMAGE_VERSION).
    const osRelease = readFileSync(join(dir, "image.osrelease"), "utf8");
    expect(osRelease).toMatch(/^ID=custom$/m);
    expect(osRelease).toMatch(/^IMAGE_VERSION="?7"?$/m);
    // CompressOutput= defaults to zstd for cpio: the tar is compressed the same way.
    const listing = execFileSync("tar", ["--zstd", "-tf", join(dir, "image.tar.zst")], { encoding: "utf8" });
    expect(listing.split("\n")).toEqual(expect.arrayContaining(["./etc/hello", "./usr/lib/os-release"]));
    expect(readdirSync(dir)).toContain("image.cpio.zst");
    // A change of the tree reruns it.
    await writeFile(join(dir, "mkosi.skeleton/etc/hello"), "changed\n");
    run = await build(dir);
    expect(run.ran).toContain("main/split-root");
    const hello = execFileSync("tar", ["--zstd", "-xOf", join(dir, "image.tar.zst"), "./etc/hello"], {
      encoding: "utf8",
    });
    expect(hello).toBe("changed\n");
    // Format=tar: the output is that archive; no second one (the os-release is still split out).
    await writeFile(join(dir, "mkosi.conf"), conf("tar"));
    run = await build(dir);
    expect(readdirSync(dir).filter((name) => name.startsWith("image.tar"))).toEqual(["image.tar.zst"]);
    expect(readdirSync(dir)).toContain("image.osrelease");
    const main = execFileSync("tar", ["--zstd", "-tf", join(dir, "image.tar.zst")], { encoding: "utf8" });
    expect(main.split("\n")).toContain("./etc/hello");
  });

  it("refuses to replace a user's file at an output path before the sync run (which builds a tools tree)", async () => {
    const dir = await makeTree({
      files: {
        "mkosi.conf": "[Distribution]\nDistribution=custom\n\n[Output]\nFormat=tar\nOutput=image\n",
        "mkosi.skeleton/etc/os-release": "ID=custom\n",
        "mkosi.sync": '#!/bin/sh\necho synced > "$SRCDIR/synced"\n',
        "image.tar.zst": "the user's\n",
      },
    });
    const run = await runMkosi(["--json", "build"], {
      cwd: dir,
      env: { MKOSI_CACHE_DIR: join(dir, ".cache") },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/image\.tar\.zst exists already and was not built by mkosi with this cache/);
    expect(run.ran).toEqual([]);
    expect(readFileSync(join(dir, "image.tar.zst"), "utf8")).toBe("the user's\n");
  });

  // Upstream's systemd tree copies the packages its build left in $BUILDDIR into $OUTPUTDIR from a
  // post-installation script.
  it("postinst and finalize scripts see $BUILDDIR, and rerun when a build step rewrites it", async () => {
    const build1 = '#!/bin/sh\nset -e\necho one > "$BUILDDIR/state"\n';
    const dir = await makeTree({
      files: {
        "mkosi.conf": `[Distribution]\nDistribution=custom\n\n[Output]\nFormat=directory\nOutput=image\n\n[Build]\nBuildDirectory=builddir\n`,
        "mkosi.skeleton/etc/os-release": "ID=custom\n",
        "mkosi.build": build1,
        "mkosi.postinst": '#!/bin/sh\nset -e\ncp "$BUILDDIR/state" "$BUILDROOT/etc/state"\n',
        "mkosi.finalize": '#!/bin/sh\nset -e\ncp "$BUILDDIR/state" "$OUTPUTDIR/state"\n',
        "mkosi.output/.keep": "",
      },
    });
    await build(dir);
    expect(readFileSync(join(dir, "mkosi.output/image/etc/state"), "utf8")).toBe("one\n");
    expect(readFileSync(join(dir, "mkosi.output/state"), "utf8")).toBe("one\n");
    // Only the build script changes: its step reruns, and so do the scripts that read what it left.
    await writeFile(join(dir, "mkosi.build"), build1.replace("one", "two"), { mode: 0o755 });
    const run = await build(dir);
    expect(run.ran.map((id) => id.split("/")[1])).toEqual(
      expect.arrayContaining(["build", "postinst", "finalize"]),
    );
    expect(readFileSync(join(dir, "mkosi.output/image/etc/state"), "utf8")).toBe("two\n");
    expect(readFileSync(join(dir, "mkosi.output/state"), "utf8")).toBe("two\n");
    // Nothing changed: nothing reruns.
    expect((await build(dir)).ran).toEqual([]);
  });

  it("removes what an earlier build published and this one does not; a user's file stays", async () => {
    const finalize = (name: string) => `#!/bin/sh\nset -e\necho hi > "$OUTPUTDIR/${name}"\n`;
    const dir = await makeTree({
      files: {
        "mkosi.conf":
          "[Distribution]\nDistribution=custom\n\n[Output]\nFormat=tar\nOutput=image\nOutputDirectory=out\n",
        "mkosi.skeleton/etc/os-release": "ID=custom\n",
        "mkosi.finalize": finalize("report-1"),
        "out/mine": "the user's\n",
      },
    });
    await build(dir);
    const listing = () => readdirSync(join(dir, "out")).sort();
    expect(listing()).toEqual(["image", "image.tar.zst", "mine", "report-1"]);
    await writeFile(join(dir, "mkosi.finalize"), finalize("report-2"));
    await build(dir);
    expect(listing()).toEqual(["image", "image.tar.zst", "mine", "report-2"]);
  });

  it.skipIf(!haveRpmTools)(
    "a Fedora image on a base tree installs Packages= only, into its rpm database",
    async () => {
      const repo = join(base, "repo");
      await rpmRepository(testPackages(), repo);
      const cache = join(base, "pkgcache");
      await mkdir(cache, { recursive: true });
      const conf = (content: string) => `[Distribution]
Distribution=fedora
Release=41
LocalMirror=file://${repo}
RepositoryKeyCheck=no

[Output]
Format=directory
Output=image

[Content]
${content}

[Build]
PackageCacheDirectory=${cache}
`;
      const key = { "mkosi.sandbox/etc/pki/rpm-gpg/RPM-GPG-KEY-fedora-41-primary": "placeholder\n" };
      const first = await makeTree({ files: { "mkosi.conf": conf("Packages=test-app"), ...key } });
      await build(first);
      const second = await makeTree({
        files: { "mkosi.conf": conf(`BaseTrees=${join(first, "image")}\nPackages=test-tool`), ...key },
      });
      const run = await build(second);
      const steps = run.ran.map((id) => id.split("/")[1]);
      expect(steps).toContain("packages");
      expect(steps).not.toContain("bootstrap");
      const names = execFileSync(
        "rpm",
        [`--root=${join(second, "image")}`, "--dbpath=/usr/lib/sysimage/rpm", "-qa", "--qf", "%{NAME}\\n"],
        { encoding: "utf8", env: { ...process.env, HOME: "/" } },
      )
        .split("\n")
        .filter(Boolean)
        .sort();
      expect(names).toEqual(["basesystem", "bash", "filesystem", "test-app", "test-lib", "test-tool"]);
    },
  );
});
