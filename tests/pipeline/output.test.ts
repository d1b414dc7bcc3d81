// The directory output across rebuilds: updated in place from the layers that changed, it must be exactly
// what a cold build produces; a previous output someone changed, or one the record does not vouch for, is
// copied whole; an output published for other inputs (a reverted change) is published again.
import {
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { describeTree } from "../helpers/tree.js";
import { type MkosiRun, makeTree, PACKAGE_CACHE, runMkosi } from "./harness.js";

// SourceDateEpoch= makes two cold builds of the same inputs identical, so an incrementally updated output
// can be compared with a cold build's.
const CONF = `[Distribution]
Distribution=debian
Release=bookworm

[Output]
Format=directory
ImageId=incremental

[Content]
Packages=dbus
SourceDateEpoch=1700000000
Hostname=incremental

[Build]
PackageCacheDirectory=${PACKAGE_CACHE}
`;

const EXTRA = {
  "mkosi.extra/etc/motd": "one\n",
  "mkosi.extra/etc/extradir/a": "a\n",
  "mkosi.extra/etc/extradir/b": "b\n",
  "mkosi.extra/usr/share/thing": "a file for now\n",
};

interface Built {
  dir: string;
  output: string;
  build(): Promise<{ ran: string[]; log: string[] }>;
  /** bin/mkosi with these arguments, whatever its exit status. */
  raw(args: string[]): Promise<MkosiRun>;
}

async function project(): Promise<Built> {
  const dir = await makeTree({ files: { "mkosi.conf": CONF, ...EXTRA } });
  const output = join(dir, "incremental");
  return {
    dir,
    output,
    async build() {
      const run = await runMkosi(["--json", "build"], {
        cwd: dir,
        env: { MKOSI_CACHE_DIR: join(dir, ".cache") },
      });
      if (run.code !== 0)
        throw new Error(`build failed (${run.code}):\n${run.stderr}\n${run.stdout.slice(-3000)}`);
      const log = run.events.flatMap((e) => (e.type === "log" && e.id === "main/publish" ? [e.line] : []));
      return { ran: run.ran.sort(), log };
    },
    raw: (args) => runMkosi(args, { cwd: dir, env: { MKOSI_CACHE_DIR: join(dir, ".cache") } }),
  };
}

/** The edits a user makes to the extra tree: change a file, remove one, replace a file with a directory,
 * add a symlink. */
async function edit(dir: string): Promise<void> {
  await writeFile(join(dir, "mkosi.extra/etc/motd"), "two, and longer\n");
  await rm(join(dir, "mkosi.extra/etc/extradir/b"));
  await rm(join(dir, "mkosi.extra/usr/share/thing"));
  await mkdir(join(dir, "mkosi.extra/usr/share/thing"));
  await writeFile(join(dir, "mkosi.extra/usr/share/thing/inside"), "now a directory\n");
  await symlink("../motd", join(dir, "mkosi.extra/etc/extradir/motd-link"));
}

describe("directory output across rebuilds", () => {
  let main: Built;

  beforeAll(async () => {
    main = await project();
    await main.build();
  }, 900_000);

  it("updates the previous output from the changed layers, exactly as a cold build", async () => {
    await edit(main.dir);
    const { ran, log } = await main.build();
    expect(ran).toContain("main/publish");
    expect(
      log.some((line) => /^updated \d+ and removed \d+ entries of the previous output$/.test(line)),
    ).toBe(true);
    expect(readFileSync(join(main.output, "etc/motd"), "utf8")).toBe("two, and longer\n");
    expect(existsSync(join(main.output, "etc/extradir/b"))).toBe(false);
    // A cold build of the same inputs, in its own cache.
    const cold = await project();
    await edit(cold.dir);
    await cold.build();
    expect(describeTree(main.output)).toEqual(describeTree(cold.output));
    expect(readdirSync(main.dir).filter((name) => name.startsWith(".mkosi-staging"))).toEqual([]);
  }, 900_000);

  it("keeps an output changed since it was published, and replaces it only with -f", async () => {
    // A file of a layer that does not change (base-files, in the bootstrap layer): same size, same
    // modification time, different content, so only the change time shows it.
    const changed = join(main.output, "etc/debian_version");
    const before = readFileSync(changed, "utf8");
    const { atime, mtime } = statSync(changed);
    writeFileSync(changed, `X${before.slice(1)}`);
    utimesSync(changed, atime, mtime);
    // The configuration still builds what was published there: the changes (a boot that was not
    // ephemeral, an edit) are the user's, and stay.
    const kept = await main.raw(["build"]);
    expect(kept.code).toBe(0);
    expect(kept.stderr).toMatch(/was changed since it was published: kept as it is/);
    expect(readFileSync(changed, "utf8")).toBe(`X${before.slice(1)}`);
    // A build that would replace it stops before any work.
    writeFileSync(join(main.dir, "mkosi.extra/etc/motd"), "three\n");
    const refused = await main.raw(["--json", "build"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/was changed since mkosi published it .* Use --force to replace it/);
    expect(refused.ran).toEqual([]);
    // -f replaces it.
    const forced = await main.raw(["-f", "build"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(changed, "utf8")).toBe(before);
    expect(readFileSync(join(main.output, "etc/motd"), "utf8")).toBe("three\n");
    // And the output is what a fresh publish of the same layers gives.
    const aside = `${main.output}.aside`;
    renameSync(main.output, aside);
    try {
      const again = await main.build();
      expect(again.ran).toEqual(["main/publish"]);
      expect(describeTree(aside)).toEqual(describeTree(main.output));
    } finally {
      rmSync(aside, { recursive: true, force: true });
    }
  }, 900_000);

  it("publishes again when the output is not the one the cached publish step produced", async () => {
    // Back to the previous extra tree: every step is cached, but the output holds the newer content.
    writeFileSync(join(main.dir, "mkosi.extra/etc/motd"), "two, and longer\n");
    const { ran, log } = await main.build();
    expect(ran).toEqual(["main/publish"]);
    expect(log.some((line) => line.startsWith("updated "))).toBe(true);
    expect(readFileSync(join(main.output, "etc/motd"), "utf8")).toBe("two, and longer\n");
    expect((await main.build()).ran).toEqual([]);
  }, 900_000);

  it("does not trust an output without a record (an interrupted publish leaves none)", async () => {
    rmSync(join(main.dir, ".cache/published"), { recursive: true, force: true });
    writeFileSync(join(main.output, "etc/motd"), "left behind by an interrupted update\n");
    const { ran, log } = await main.build();
    expect(ran).toEqual(["main/publish"]);
    expect(log.some((line) => line.startsWith("updated "))).toBe(false);
    expect(readFileSync(join(main.output, "etc/motd"), "utf8")).toBe("two, and longer\n");
  }, 900_000);
});
