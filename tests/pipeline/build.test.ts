// Real builds of a small Debian bookworm image through `bin/mkosi`: content of the directory image, a
// command run in it with systemd-nspawn, and the tar and cpio formats reusing every cached step.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { makeTree, PACKAGE_CACHE, runMkosi } from "./harness.js";

const CONF = `[Distribution]
Distribution=debian
Release=bookworm

[Output]
Format=directory
ImageId=pipeline
ImageVersion=1.0
ManifestFormat=json

[Content]
Packages=systemd,udev,dbus
WithDocs=no
Hostname=pipeline-host
RootPassword=hunter2
Locale=C.UTF-8
Timezone=Europe/Berlin

[Build]
PackageCacheDirectory=${PACKAGE_CACHE}
Environment=GREETING=hello
`;

const FILES = {
  "mkosi.conf": CONF,
  "mkosi.skeleton/etc/skeleton-file": "from the skeleton\n",
  "mkosi.extra/etc/motd": "extra motd\n",
  "mkosi.extra/usr/lib/sysusers.d/pipeline.conf": 'u pipelineuser - "Pipeline test user"\n',
  "mkosi.extra/usr/lib/tmpfiles.d/pipeline.conf": "d /var/lib/pipeline 0750 root root -\n",
  "mkosi.build":
    '#!/bin/sh\nset -e\nmkdir -p "$DESTDIR/usr/share/pipeline"\necho "built with $GREETING" > "$DESTDIR/usr/share/pipeline/built"\n',
  "mkosi.postinst": '#!/bin/sh\nset -e\necho "postinst $1" > "$BUILDROOT/etc/postinst-ran"\n',
};

describe("bookworm image", () => {
  let dir = "";
  let image = "";
  const env = () => ({ MKOSI_CACHE_DIR: join(dir, ".cache") });

  beforeAll(async () => {
    dir = await makeTree({ files: FILES });
    image = join(dir, "pipeline_1.0");
    const run = await runMkosi(["--json", "build"], { cwd: dir, env: env() });
    if (run.code !== 0)
      throw new Error(`build failed (${run.code}):\n${run.stderr}\n${run.stdout.slice(-4000)}`);
  }, 900_000);

  const read = (path: string) => readFileSync(join(image, path), "utf8");

  it("has Debian's os-release with the image id and version", () => {
    const osRelease = read("usr/lib/os-release");
    expect(osRelease).toMatch(/^ID=debian$/m);
    expect(osRelease).toMatch(/^VERSION_CODENAME=bookworm$/m);
    expect(osRelease).toMatch(/^IMAGE_ID="pipeline"$/m);
    expect(osRelease).toMatch(/^IMAGE_VERSION="1.0"$/m);
  });

  it("has the packages installed per dpkg", () => {
    const out = execFileSync(
      "dpkg-query",
      [
        "--admindir",
        join(image, "var/lib/dpkg"),
        "-W",
        "-f",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format syntax
        "${Package} ${db:Status-Status}\\n",
        "systemd",
        "udev",
        "dbus",
      ],
      { encoding: "utf8" },
    );
    expect(out).toContain("systemd installed");
    expect(out).toContain("udev installed");
    expect(out).toContain("dbus installed");
  });

  it("has skeleton, extra, build-script and post-install results", () => {
    expect(read("etc/skeleton-file")).toBe("from the skeleton\n");
    expect(read("etc/motd")).toBe("extra motd\n");
    expect(read("usr/share/pipeline/built")).toBe("built with hello\n");
    expect(read("etc/postinst-ran")).toBe("postinst final\n");
  });

  it("ran sysusers, tmpfiles and firstboot", () => {
    expect(read("etc/passwd")).toMatch(/^pipelineuser:x:\d+:\d+:Pipeline test user:/m);
    expect(statSync(join(image, "var/lib/pipeline")).mode & 0o777).toBe(0o750);
    expect(read("etc/hostname").trim()).toBe("pipeline-host");
    const rootShadow = read("etc/shadow")
      .split("\n")
      .find((line) => line.startsWith("root:"));
    expect(rootShadow).toMatch(/^root:\$6\$[^:]+:/);
    expect(readFileSync(join(image, "usr/lib/credstore/system.hostname"), "utf8")).toBe("pipeline-host");
    expect(readlinkSync(join(image, "etc/localtime"))).toMatch(/zoneinfo\/Europe\/Berlin$/);
  });

  it("applied the presets and compiled the hardware database (they run side by side)", () => {
    // Debian's systemd enables systemd-networkd through its presets; hwdb.bin is built from hwdb.d.
    expect(
      readlinkSync(join(image, "etc/systemd/system/multi-user.target.wants/systemd-networkd.service")),
    ).toMatch(/systemd-networkd\.service$/);
    expect(statSync(join(image, "usr/lib/udev/hwdb.bin")).size).toBeGreaterThan(1_000_000);
  });

  it("has no documentation with WithDocs=no", () => {
    const docs = join(image, "usr/share/doc");
    const leftovers = existsSync(docs)
      ? readdirSync(docs, { recursive: true, withFileTypes: true })
          .filter((entry) => entry.isFile() && entry.name !== "copyright")
          .map((entry) => entry.name)
      : [];
    expect(leftovers).toEqual([]);
    expect(existsSync(join(image, "usr/share/man/man1"))).toBe(false);
  });

  it("writes a JSON manifest listing the packages", () => {
    const manifest = JSON.parse(readFileSync(join(dir, "pipeline_1.0.manifest"), "utf8"));
    const names = manifest.packages.map((p: { name: string }) => p.name);
    expect(names).toContain("systemd");
    expect(names).toContain("dbus");
  });

  it("runs a command in the image with systemd-nspawn", () => {
    const result = spawnSync(
      "systemd-nspawn",
      [
        "--quiet",
        "--register=no",
        "--keep-unit",
        "--timezone=off",
        // Read-only: a container run writes into the tree (mount points, /etc), which makes it an output
        // changed since it was published (kept from the next build that would replace it).
        "--read-only",
        "--pipe",
        "-D",
        image,
        "/bin/cat",
        "/etc/motd",
      ],
      { encoding: "utf8", timeout: 60_000 },
    );
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toBe("extra motd\n");
  });

  it("says up to date and runs nothing on a rebuild", async () => {
    const run = await runMkosi(["--json", "build"], { cwd: dir, env: env() });
    expect(run.code).toBe(0);
    expect(run.ran).toEqual([]);
    expect(run.cached.length).toBeGreaterThan(5);
  }, 120_000);

  it("builds tar and cpio from the cached tree, rerunning only the output steps", async () => {
    for (const format of ["tar", "cpio"]) {
      const run = await runMkosi(["--json", `--format=${format}`, "build"], { cwd: dir, env: env() });
      expect(run.code, run.stderr).toBe(0);
      // The installed image is reused; the scripts rerun because $MKOSI_CONFIG (which they may read)
      // names the format, and the output steps run for the new format.
      for (const cached of ["main/skeleton", "main/bootstrap", "main/packages"])
        expect(run.ran).not.toContain(cached);
      expect(run.ran).toEqual(expect.arrayContaining(["main/output", "main/manifest", "main/publish"]));
      const archive = join(dir, `pipeline_1.0.${format}.zst`);
      expect(existsSync(archive)).toBe(true);
      const list =
        format === "tar"
          ? execFileSync("sh", ["-c", `zstd -dc '${archive}' | tar -t`], {
              encoding: "utf8",
              maxBuffer: 1 << 28,
            })
          : execFileSync("sh", ["-c", `zstd -dc '${archive}' | cpio -it --quiet`], {
              encoding: "utf8",
              maxBuffer: 1 << 28,
            });
      expect(list).toMatch(/(^|\n)(\.\/)?etc\/motd\n/);
      expect(list).toMatch(/(^|\n)(\.\/)?usr\/share\/pipeline\/built\n/);
      // <Output> now names the archive (the earlier directory output of this image was replaced).
      expect(readlinkSync(join(dir, "pipeline_1.0"))).toBe(`pipeline_1.0.${format}.zst`);
    }
  }, 300_000);
});
