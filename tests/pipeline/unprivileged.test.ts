// An unprivileged user builds a real bookworm image: mkosi enters a user namespace with the user's
// subordinate id range (sandbox/userns.ts), dpkg chowns files to system users, overlay layers use
// `userxattr`, and the output on disk belongs to the user (image root) and to the subordinate ids
// (other image users). A user without subordinate ids gets a clear error instead.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { subordinateRange } from "../../sandbox/userns.js";
import { makeTree, PACKAGE_CACHE, REPO, runMkosi } from "./harness.js";

const USER = "mkosi-unpriv-test";

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root to create the test user";
  for (const tool of ["useradd", "setpriv", "unshare", "newuidmap", "bwrap", "apt-get"])
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  return undefined;
}

interface TestUser {
  uid: number;
  gid: number;
  subuid: number;
  subgid: number;
  created: boolean;
}

function idOf(flag: "-u" | "-g", name: string): number | undefined {
  const r = spawnSync("id", [flag, name], { encoding: "utf8" });
  return r.status === 0 ? Number(r.stdout.trim()) : undefined;
}

/** The end of the highest range in /etc/subuid and /etc/subgid, so a new range collides with none. */
function freeSubordinateStart(): number {
  let end = 100000;
  for (const file of ["/etc/subuid", "/etc/subgid"]) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const [, start, count] = line.split(":");
      if (start && count) end = Math.max(end, Number(start) + Number(count));
    }
  }
  return end;
}

function ensureUser(): TestUser {
  let created = false;
  if (idOf("-u", USER) === undefined) {
    execFileSync("useradd", ["--no-create-home", "--shell", "/usr/sbin/nologin", USER]);
    created = true;
  }
  const uid = idOf("-u", USER)!;
  const gid = idOf("-g", USER)!;
  let subuid = subordinateRange("/etc/subuid", USER, uid);
  let subgid = subordinateRange("/etc/subgid", USER, gid);
  if (!subuid || !subgid) {
    const start = freeSubordinateStart();
    const range = `${start}-${start + 65535}`;
    execFileSync("usermod", ["--add-subuids", range, "--add-subgids", range, USER]);
    subuid = subordinateRange("/etc/subuid", USER, uid)!;
    subgid = subordinateRange("/etc/subgid", USER, gid)!;
  }
  return { uid, gid, subuid: subuid.start, subgid: subgid.start, created };
}

/** Can `uid` run the checkout's bin/mkosi? If not (e.g. a clone under /root), stage hard links of what
 * it needs into `dir`. */
async function mkosiFor(uid: number, gid: number, dir: string): Promise<string> {
  const direct = join(REPO, "bin/mkosi");
  const probe = spawnSync("setpriv", [
    `--reuid=${uid}`,
    `--regid=${gid}`,
    "--clear-groups",
    "test",
    "-r",
    join(REPO, "dist/cli/main.js"),
  ]);
  if (probe.status === 0) return direct;
  const staged = join(dir, "mkosi-checkout");
  await mkdir(staged);
  for (const entry of ["bin", "dist", "config", "node_modules", "package.json"])
    execFileSync("cp", ["-al", join(REPO, entry), join(staged, entry)]);
  // Only the new directories: the files are the checkout's own inodes.
  execFileSync("find", [staged, "-type", "d", "-exec", "chmod", "o+rx", "{}", "+"]);
  return join(staged, "bin/mkosi");
}

function runAs(user: { uid: number; gid: number }, mkosi: string, home: string, args: string[], cwd: string) {
  return runMkosi(args, { cwd, asUser: user, mkosi, env: { HOME: home } });
}

const skip = missing();

describe.skipIf(skip)("unprivileged build in a user namespace", () => {
  let user: TestUser;
  let root: string;
  let home: string;
  let config: string;
  let mkosi: string;

  beforeAll(async () => {
    user = ensureUser();
    root = await mkdtemp(join(tmpdir(), "mkosi-unpriv-"));
    home = join(root, "home");
    config = join(root, "config");
    // The user's package cache starts as hard links to the shared test cache: apt only reads them.
    const packages = join(home, ".cache/mkosi/packages/cache/apt/archives");
    const shared = join(PACKAGE_CACHE, "cache/apt/archives");
    await mkdir(packages, { recursive: true });
    if (existsSync(shared)) {
      const debs = (await readdir(shared)).filter((f) => f.endsWith(".deb"));
      if (debs.length > 0) execFileSync("cp", ["-l", ...debs.map((d) => join(shared, d)), packages]);
    }
    await makeTree(
      {
        files: {
          "mkosi.conf": [
            "[Distribution]",
            "Distribution=debian",
            "Release=bookworm",
            "",
            "[Output]",
            "Format=directory",
            "ImageId=unpriv",
            "",
          ].join("\n"),
          "mkosi.extra/etc/unpriv-marker": "from mkosi.extra\n",
          // chown to a system user from inside the image: needs the subordinate id range.
          "mkosi.postinst.chroot":
            "#!/bin/sh\nset -e\ntouch /owned-by-games\nchown games:games /owned-by-games\n",
        },
      },
      config,
    );
    await mkdir(join(config, "mkosi.output"));
    execFileSync("chown", ["-R", `${user.uid}:${user.gid}`, root]);
    execFileSync("chmod", ["755", root]);
    mkosi = await mkosiFor(user.uid, user.gid, root);
  }, 120_000);

  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
    if (user?.created) spawnSync("userdel", [USER]);
  });

  it("builds a bookworm image whose files belong to the user and its subordinate ids", async () => {
    const run = await runAs(user, mkosi, home, ["--json", "build"], config);
    expect(run.code, run.stderr).toBe(0);
    expect(run.ran.length).toBeGreaterThan(0);
    const image = join(config, "mkosi.output/unpriv");
    const top = await stat(image);
    expect(top.uid).toBe(user.uid); // image root = the invoking user
    expect((await stat(join(image, "etc/unpriv-marker"))).uid).toBe(user.uid);
    // games is uid 5, gid 60 in Debian: namespace id n is subordinate start + n - 1 on disk.
    const games = await stat(join(image, "owned-by-games"));
    expect(games.uid).toBe(user.subuid + 5 - 1);
    expect(games.gid).toBe(user.subgid + 60 - 1);
    // dpkg (base-files) installed /var/mail as root:mail (gid 8).
    expect((await stat(join(image, "var/mail"))).gid).toBe(user.subgid + 8 - 1);
    expect(readFileSync(join(image, "var/lib/dpkg/status"), "utf8")).toContain("Package: base-files");
    expect(readFileSync(join(image, "etc/os-release"), "utf8")).toMatch(/bookworm/);
    // The cache lives under the user's home, apart from root builds.
    expect(existsSync(join(home, ".cache/mkosi/graph-unprivileged"))).toBe(true);
  }, 600_000);

  it("finds everything cached on the next build and in the graph", async () => {
    const again = await runAs(user, mkosi, home, ["--json", "build"], config);
    expect(again.code, again.stderr).toBe(0);
    expect(again.ran).toEqual([]);
    expect(again.cached.length).toBeGreaterThan(0);
    const graph = await runAs(user, mkosi, home, ["graph", "--format=json"], config);
    expect(graph.code, graph.stderr).toBe(0);
    const nodes = (JSON.parse(graph.stdout) as { nodes: { status: string }[] }).nodes;
    expect(nodes.length).toBeGreaterThan(0);
    expect(nodes.every((n) => n.status === "cached")).toBe(true);
  }, 120_000);

  it("cleans the output it made, subordinate-owned files included", async () => {
    const clean = await runAs(user, mkosi, home, ["clean"], config);
    expect(clean.code, clean.stderr).toBe(0);
    expect(existsSync(join(config, "mkosi.output/unpriv"))).toBe(false);
  }, 120_000);

  it("tells a user without subordinate ids what to configure", async () => {
    const nobody = { uid: idOf("-u", "nobody")!, gid: idOf("-g", "nobody")! };
    const scratch = await mkdtemp(join(tmpdir(), "mkosi-nosubid-"));
    try {
      execFileSync("chown", [`${nobody.uid}:${nobody.gid}`, scratch]);
      const run = await runAs(nobody, mkosi, scratch, ["build"], config);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/subordinate ids for nobody in \/etc\/subuid and \/etc\/subgid/);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }, 60_000);
});
