// mkosi shell and mkosi boot on a real bookworm directory image (built once for the suite): commands and
// their exit status, a boot to multi-user and back, Ephemeral=, RuntimeTrees=, credentials, the runtime
// directory removed even when mkosi is killed, and the failure when there is nothing to run.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { bookwormTree, runMkosi, startMkosi } from "./helpers.js";

/** A listing of the tree that changes when any entry is added, removed, resized, retouched or chmodded. */
function listing(dir: string): string {
  return execFileSync("find", [dir, "-printf", "%P %y %s %m %U %T@\\n"], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  })
    .split("\n")
    .sort()
    .join("\n");
}

describe("shell and boot (systemd-nspawn)", () => {
  /** What the runtime verbs left in $TMPDIR (the build leaves its own, unrelated, entries there). */
  const ours = () => readdirSync(temp).filter((name) => /^mkosi-(machine|scratch)-/.test(name));
  let dir = "";
  let output = "";
  let temp = "";
  const env = () => ({ MKOSI_CACHE_DIR: join(dir, ".cache"), TMPDIR: temp });

  beforeAll(async () => {
    dir = await bookwormTree();
    output = join(dir, "mkosi.output/runtime");
    await mkdir(join(dir, "mkosi.output"), { recursive: true });
    temp = await mkdtemp(join(tmpdir(), "mkosi-runtime-tmp-"));
    const run = await runMkosi(["build"], { cwd: dir, env: env() });
    if (run.code !== 0) throw new Error(`build failed (${run.code}):\n${run.stderr}`);
  }, 900_000);

  it("runs a command in the image and prints the image's os-release", async () => {
    const run = await runMkosi(["shell", "cat", "/etc/os-release"], { cwd: dir, env: env() });
    expect(run.stderr).toContain("is up to date");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^IMAGE_ID="runtime"$/m);
    expect(run.stdout).toMatch(/^VERSION_CODENAME=bookworm$/m);
  });

  it("returns the command's exit status", async () => {
    const run = await runMkosi(["shell", "sh", "-c", "exit 7"], { cwd: dir, env: env() });
    expect(run.code).toBe(7);
  });

  it("boots to multi-user, powers off and leaves the output untouched with Ephemeral=yes", async () => {
    const before = listing(output);
    const run = await runMkosi(["--ephemeral=yes", "boot"], { cwd: dir, env: env() });
    expect(run.stdout + run.stderr).toContain("MKOSI-TEST-STATE: running");
    expect(run.code).toBe(0);
    expect(listing(output)).toBe(before);
    expect(ours()).toEqual([]);
  }, 300_000);

  it("writes nothing into the output with Ephemeral=yes and removes its runtime directory", async () => {
    const before = listing(output);
    const run = await runMkosi(
      ["--ephemeral=yes", "shell", "sh", "-c", "touch /etc/ephemeral-test && ls /etc/ephemeral-test"],
      { cwd: dir, env: env() },
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("/etc/ephemeral-test");
    expect(existsSync(join(output, "etc/ephemeral-test"))).toBe(false);
    expect(listing(output)).toBe(before);
    expect(ours()).toEqual([]);
  });

  it("shows host directories given with RuntimeTrees= at their targets (absolute, default, relative)", async () => {
    const host = await mkdtemp(join(tmpdir(), "mkosi-runtime-tree-"));
    await writeFile(join(host, "from-host"), "hello from the host\n");
    const run = await runMkosi(
      [
        `--runtime-tree=${host}:/mnt/tree`,
        `--runtime-tree=${host}`,
        `--runtime-tree=${host}:sub`,
        "--ephemeral=yes",
        "shell",
        "cat",
        "/mnt/tree/from-host",
        "/root/src/from-host",
        "/root/src/sub/from-host",
      ],
      { cwd: dir, env: env() },
    );
    expect(run.code).toBe(0);
    expect(run.stdout.match(/hello from the host/g)).toHaveLength(3);
  });

  it("passes Credentials= and NSpawnSettings=", async () => {
    const settings = join(dir, "test.nspawn");
    await writeFile(settings, "[Exec]\nEnvironment=FROM_SETTINGS=yes-from-settings\n");
    // NSpawnSettings= is published next to the image, and the shells above (not ephemeral) changed the
    // output: replacing it needs -f (the changed-output policy, tests/safety/handedit.test.ts).
    const run = await runMkosi(
      [
        "-f",
        "--credential=greeting=hello-credential",
        `--settings=${settings}`,
        "--ephemeral=yes",
        "shell",
        "sh",
        "-c",
        'echo "$FROM_SETTINGS"; cat "$CREDENTIALS_DIRECTORY/greeting"',
      ],
      { cwd: dir, env: env() },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("yes-from-settings");
    expect(run.stdout).toContain("hello-credential");
  });

  it("removes the runtime directory and stops the container when mkosi is killed", async () => {
    const running = startMkosi(["--ephemeral=yes", "shell", "sleep", "600"], dir, env());
    // Wait until the container runs: its runtime directory exists.
    for (let i = 0; i < 600 && ours().length === 0; i++) await sleep(100);
    expect(ours().length).toBe(1);
    running.child.kill("SIGKILL");
    await running.exited;
    const containers = () =>
      execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
        .split("\n")
        .filter((line) => line.includes("systemd-nspawn") && line.includes(temp));
    for (let i = 0; i < 300 && (ours().length > 0 || containers().length > 0); i++) await sleep(100);
    expect(ours()).toEqual([]);
    expect(containers()).toEqual([]);
  }, 120_000);

  it("forwards the journal of an ephemeral boot to ForwardJournal= and shows it with journalctl", async () => {
    const journal = await mkdtemp(join(tmpdir(), "mkosi-runtime-journal-"));
    const boot = await runMkosi([`--forward-journal=${journal}`, "--ephemeral=yes", "boot"], {
      cwd: dir,
      env: env(),
    });
    expect(boot.code).toBe(0);
    const shown = await runMkosi(
      [`--forward-journal=${journal}`, "journalctl", "--", "--no-pager", "-o", "cat"],
      { cwd: dir, env: env() },
    );
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("Reached target multi-user.target");
  }, 300_000);

  it("runs a hand-made GPT disk image (root partition mounted without udev), Ephemeral= copying it", async () => {
    // Until mkosi builds disk images: the image's tree as an ext4 root partition (mkfs.ext4 -d) in a GPT.
    const disk = await mkdtemp(join("/var/tmp", "mkosi-runtime-disk-"));
    try {
      const part = join(disk, "root.ext4");
      execFileSync("mkfs.ext4", ["-q", "-d", output, "-L", "root", part, "600M"]);
      const image = join(disk, "image.raw");
      execFileSync("truncate", ["-s", `${600 + 2}M`, image]);
      execFileSync("sfdisk", ["-q", image], {
        input: "label: gpt\nstart=2048, size=600MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709\n",
      });
      execFileSync("dd", [
        `if=${part}`,
        `of=${image}`,
        "bs=1M",
        "seek=1",
        "conv=notrunc,sparse",
        "status=none",
      ]);
      await rm(part);
      const shown = await runMkosi(["--format=disk", "shell", "cat", "/etc/os-release"], {
        cwd: disk,
        env: env(),
      });
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(/^IMAGE_ID="runtime"$/m);
      const before = statSync(image);
      const touched = await runMkosi(
        ["--format=disk", "--ephemeral=yes", "shell", "touch", "/etc/ephemeral-disk"],
        {
          cwd: disk,
          env: env(),
        },
      );
      expect(touched.code).toBe(0);
      expect(statSync(image).mtimeMs).toBe(before.mtimeMs);
      const check = await runMkosi(["--format=disk", "shell", "test", "-e", "/etc/ephemeral-disk"], {
        cwd: disk,
        env: env(),
      });
      expect(check.code).toBe(1);
      expect(readdirSync(disk)).toEqual(["image.raw"]);
    } finally {
      await rm(disk, { recursive: true, force: true });
    }
  }, 300_000);

  it("fails clearly when there is neither an image nor a configuration", async () => {
    const empty = await mkdtemp(join(tmpdir(), "mkosi-runtime-empty-"));
    for (const verb of ["shell", "boot"]) {
      const run = await runMkosi([verb], { cwd: empty, env: env() });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain("has not been built yet and there is no configuration to build it from");
      expect(run.stderr).not.toMatch(/\bat .*\.js:\d+/);
    }
  });

  // Last: a boot without Ephemeral= writes into the output (its persistent journal among others).
  it("shows the journal a boot left in the image with journalctl, and coredumpctl looks there too", async () => {
    const boot = await runMkosi(["boot"], { cwd: dir, env: env() });
    expect(boot.code).toBe(0);
    const shown = await runMkosi(["journalctl", "--", "--no-pager", "-o", "cat", "-b"], {
      cwd: dir,
      env: env(),
    });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("Reached target multi-user.target");
    const dumps = await runMkosi(["coredumpctl", "--", "--no-pager", "list"], { cwd: dir, env: env() });
    expect(dumps.stderr + dumps.stdout).toContain("No coredumps found");
  }, 300_000);
});
