// Regression test (found by the differential test): trees (SkeletonTrees=, ExtraTrees=, BaseTrees=) and
// the build scripts' $DESTDIR were copied into the image by `cp` (or `tar`) running on the host, and both
// write through a symlink they find at the destination. A symlink in the image was resolved on the host:
// an absolute one left the image. With a Debian image that is ordinary: /usr/bin/awk →
// /etc/alternatives/awk, /var/run → /run, /var/lock → /run/lock; an ExtraTrees= file at usr/bin/awk would
// have overwritten the host's mawk. Now the copies run in the sandbox (tasks/trees.ts), where the link
// does not reach the host, as in upstream's: cp fails with "not writing through dangling symlink".
//
// Each case plants a symlink to a victim in a temporary directory (never a real host file) and checks the
// victim is untouched. The build may fail (as upstream's does, naming the image path) or replace the link;
// it must not write through it.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Scenario, scenario } from "./scenario.js";

const OUTPUT: [string, string][] = [
  ["Format", "directory"],
  ["Output", "img"],
];

describe("copying a tree into the image never writes through the image's symlinks to the host", () => {
  let s: Scenario | undefined;
  let host = "";
  afterEach(() => {
    s?.remove();
    if (host) rmSync(host, { recursive: true, force: true });
  });
  const victimFile = () => {
    host = mkdtempSync(join(tmpdir(), "mkosi-victim-"));
    const victim = join(host, "victim");
    writeFileSync(victim, "host file\n");
    return victim;
  };

  it("a later skeleton tree's file over an earlier tree's absolute symlink", async () => {
    const victim = victimFile();
    s = scenario(
      [...OUTPUT, ["SkeletonTrees", "trees/a,trees/b"]],
      [
        { op: "symlink", path: "trees/a/etc/motd", target: victim },
        { op: "write", path: "trees/b/etc/motd", data: "from b\n" },
      ],
    );
    const run = await s.incremental();
    expect(readFileSync(victim, "utf8")).toBe("host file\n");
    if (run.code !== 0) expect(run.error).toMatch(/dangling symlink '\/buildroot\/etc\/motd'/);
    if (run.code === 0) {
      const motd = join(s.ws.incremental.out, "img/etc/motd");
      expect(lstatSync(motd).isFile()).toBe(true);
      expect(readFileSync(motd, "utf8")).toBe("from b\n");
    }
  }, 120_000);

  it("an extra tree's directory below an absolute symlink to a directory (like Debian's /var/run)", async () => {
    victimFile();
    const hostRun = join(host, "run");
    mkdirSync(hostRun);
    s = scenario(OUTPUT, [
      { op: "symlink", path: "mkosi.skeleton/var/run", target: hostRun },
      { op: "write", path: "mkosi.extra/var/run/planted", data: "from the extra tree\n" },
    ]);
    const run = await s.incremental();
    expect(existsSync(join(hostRun, "planted"))).toBe(false);
    if (run.code !== 0) expect(run.error).toMatch(/\/buildroot\/var\/run/);
  }, 120_000);

  it("a build script's $DESTDIR file over the image's absolute symlink", async () => {
    const victim = victimFile();
    s = scenario(
      [...OUTPUT, ["BuildSources", "src"]],
      [
        { op: "symlink", path: "mkosi.skeleton/etc/motd", target: victim },
        { op: "mkdir", path: "src" },
        {
          op: "write",
          path: "mkosi.build",
          data: '#!/bin/sh\nmkdir -p "$DESTDIR/etc" && echo built > "$DESTDIR/etc/motd"\n',
          mode: 0o755,
        },
      ],
    );
    const run = await s.incremental();
    expect(readFileSync(victim, "utf8")).toBe("host file\n");
    if (run.code !== 0) expect(run.error).toMatch(/dangling symlink '\/buildroot\/etc\/motd'/);
  }, 120_000);

  it("a later base tree's file over an earlier base tree's absolute symlink", async () => {
    const victim = victimFile();
    s = scenario(
      [...OUTPUT, ["BaseTrees", "base/a,base/b"]],
      [
        { op: "symlink", path: "base/a/etc/motd", target: victim },
        { op: "write", path: "base/b/etc/motd", data: "from b\n" },
      ],
    );
    const run = await s.incremental();
    expect(readFileSync(victim, "utf8")).toBe("host file\n");
    if (run.code !== 0) expect(run.error).toMatch(/dangling symlink '\/buildroot\/etc\/motd'/);
  }, 120_000);
});
