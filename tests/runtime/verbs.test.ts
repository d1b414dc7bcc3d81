// The verbs that do not start a machine: serve, burn (on a loop device), genkey, init, documentation,
// dependencies, sandbox, journalctl. Outputs are made by hand in directories without a configuration
// (the verbs then use the output as it is), so no image has to be built.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gptDisk } from "./disks.js";
import { runMkosi, startMkosi } from "./helpers.js";

const temp = (prefix: string) => mkdtemp(join(tmpdir(), `mkosi-verbs-${prefix}-`));

let bodies = 0;
function curl(args: string[]): { status: number; headers: string; body: Buffer } {
  const file = join(tmpdir(), `mkosi-verbs-curl-${process.pid}-${bodies++}`);
  const r = spawnSync("curl", ["-s", "-D", "-", "-o", file, ...args], { maxBuffer: 1 << 26 });
  const headers = r.stdout.toString();
  const status = Number(/^HTTP\/1\.1 (\d+)/m.exec(headers)?.[1] ?? 0);
  const body = existsSync(file) ? readFileSync(file) : Buffer.alloc(0);
  rmSync(file, { force: true });
  return { status, headers, body };
}

describe("serve", () => {
  it("serves the output directory with ranges and HEAD until interrupted", async () => {
    const dir = await temp("serve");
    const content = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
    writeFileSync(join(dir, "image.raw"), content);
    const server = startMkosi(["--format=disk", "serve"], dir, {});
    let up = false;
    for (let i = 0; i < 300 && !up; i++) {
      up = server.output().includes("Serving");
      if (!up) await sleep(100);
    }
    expect(server.output()).toContain(`Serving ${dir} on http://localhost:8081/`);
    try {
      const range = curl(["-r", "100-199", "http://localhost:8081/image.raw"]);
      expect(range.status).toBe(206);
      expect(range.headers).toMatch(/^Content-Range: bytes 100-199\/70000\r?$/m);
      expect(range.body.equals(content.subarray(100, 200))).toBe(true);
      const suffix = curl(["-r", "-10", "http://localhost:8081/image.raw"]);
      expect(suffix.body.equals(content.subarray(69_990))).toBe(true);
      const whole = curl(["http://localhost:8081/image.raw"]);
      expect(whole.status).toBe(200);
      expect(whole.body.equals(content)).toBe(true);
      const head = curl(["-I", "http://localhost:8081/image.raw"]);
      expect(head.status).toBe(200);
      expect(head.headers).toMatch(/^Content-Length: 70000\r?$/m);
      expect(head.headers).toMatch(/^Accept-Ranges: bytes\r?$/m);
      expect(curl(["-r", "80000-", "http://localhost:8081/image.raw"]).status).toBe(416);
      expect(curl(["http://localhost:8081/missing"]).status).toBe(404);
      expect(curl(["--path-as-is", "http://localhost:8081/../../etc/passwd"]).status).toBe(404);
    } finally {
      server.child.kill("SIGINT");
    }
    expect(await server.exited).toBe(0);
  });
});

describe("burn", () => {
  const loops: string[] = [];
  const mounts: string[] = [];
  const loop = (backing: string) => {
    const device = execFileSync("losetup", ["--find", "--show", backing], { encoding: "utf8" }).trim();
    loops.push(device);
    return device;
  };

  afterAll(() => {
    for (const mount of mounts) spawnSync("umount", [mount]);
    for (const device of loops) spawnSync("losetup", ["-d", device]);
  });

  it("writes the image to a loop device and moves the backup GPT to the device's end", async () => {
    const dir = await temp("burn");
    gptDisk(join(dir, "image.raw"), "8M");
    const backing = join(dir, "device");
    execFileSync("truncate", ["-s", "64M", backing]);
    const device = loop(backing);
    const run = await runMkosi(["--format=disk", "burn", device], { cwd: dir });
    expect(run.stderr).toContain(`everything on ${device} is wiped`);
    expect(run.code).toBe(0);
    const table = JSON.parse(execFileSync("sfdisk", ["--json", device], { encoding: "utf8" })) as {
      partitiontable: { lastlba: number; partitions: { size: number }[] };
    };
    // 64 MiB of 512-byte sectors, less the 33 sectors of the backup GPT at the end.
    expect(table.partitiontable.lastlba).toBe((64 * 1024 * 1024) / 512 - 34);
    expect(table.partitiontable.partitions).toHaveLength(1);
    const verify = spawnSync("sfdisk", ["--verify", device], { encoding: "utf8" });
    expect(verify.status).toBe(0);
    expect(verify.stdout).toContain("No errors detected.");
  });

  it("refuses a regular file, a mounted device, a missing device and a device too small", async () => {
    const dir = await temp("burn-refuse");
    gptDisk(join(dir, "image.raw"), "8M");
    const file = join(dir, "not-a-device");
    writeFileSync(file, "precious\n");
    const notBlock = await runMkosi(["--format=disk", "burn", file], { cwd: dir });
    expect(notBlock.code).toBe(1);
    expect(notBlock.stderr).toContain("is not a block device");
    expect(readFileSync(file, "utf8")).toBe("precious\n");

    const small = join(dir, "small");
    execFileSync("truncate", ["-s", "4M", small]);
    const tooSmall = await runMkosi(["--format=disk", "burn", loop(small)], { cwd: dir });
    expect(tooSmall.code).toBe(1);
    expect(tooSmall.stderr).toContain("does not fit on");

    const mounted = join(dir, "mounted");
    execFileSync("truncate", ["-s", "32M", mounted]);
    execFileSync("mkfs.ext4", ["-q", mounted]);
    const device = loop(mounted);
    const mountPoint = join(dir, "mnt");
    await mkdir(mountPoint);
    execFileSync("mount", [device, mountPoint]);
    mounts.push(mountPoint);
    const busy = await runMkosi(["--format=disk", "burn", device], { cwd: dir });
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain(`is in use (mounted at ${mountPoint})`);

    const missing = await runMkosi(["--format=disk", "burn"], { cwd: dir });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("burn needs a device");
  });
});

describe("genkey", () => {
  it("writes a key and a matching certificate that SecureBoot= picks up, and keeps existing keys", async () => {
    const dir = await temp("genkey");
    writeFileSync(join(dir, "mkosi.conf"), "[Distribution]\nDistribution=custom\n");
    const run = await runMkosi(["--genkey-common-name=test signer", "--genkey-valid-days=30", "genkey"], {
      cwd: dir,
    });
    expect(run.code).toBe(0);
    const key = join(dir, "mkosi.key");
    const crt = join(dir, "mkosi.crt");
    const pub = (args: string[]) => execFileSync("openssl", args, { encoding: "utf8" });
    expect(pub(["pkey", "-in", key, "-pubout"])).toBe(pub(["x509", "-in", crt, "-noout", "-pubkey"]));
    expect(pub(["x509", "-in", crt, "-noout", "-subject"])).toContain("CN = test signer");
    expect(spawnSync("openssl", ["x509", "-in", crt, "-noout", "-checkend", String(29 * 86400)]).status).toBe(
      0,
    );
    expect(spawnSync("openssl", ["x509", "-in", crt, "-noout", "-checkend", String(31 * 86400)]).status).toBe(
      1,
    );
    expect(pub(["x509", "-in", crt, "-noout", "-text"])).toContain("Public-Key: (2048 bit)");
    const summary = await runMkosi(["--secure-boot=yes", "--json", "summary"], { cwd: dir });
    const main = (JSON.parse(summary.stdout) as { Images: Record<string, unknown>[] }).Images.at(-1)!;
    expect(main.SecureBootKey).toBe(key);
    expect(main.SecureBootCertificate).toBe(crt);
    const before = readFileSync(key, "utf8");
    const again = await runMkosi(["genkey"], { cwd: dir });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already exists");
    expect(readFileSync(key, "utf8")).toBe(before);
    const forced = await runMkosi(["-f", "genkey"], { cwd: dir });
    expect(forced.code).toBe(0);
    expect(readFileSync(key, "utf8")).not.toBe(before);
  });
});

describe("init, documentation, dependencies", () => {
  it("init writes the tmpfiles.d drop-in for the cache directory, sparing the build graph", async () => {
    const home = await temp("init");
    const run = await runMkosi(["init"], {
      cwd: home,
      env: { HOME: home, XDG_CONFIG_HOME: join(home, "config") },
    });
    expect(run.code).toBe(0);
    const dropin = readFileSync(join(home, "config/user-tmpfiles.d/mkosi.conf"), "utf8");
    expect(dropin).toContain("d %C/mkosi - - - 90d");
    expect(dropin).toContain("x %C/mkosi/graph*");
  });

  it("documentation shows the shipped man page", async () => {
    const dir = await temp("doc");
    const markdown = await runMkosi(["--doc-format=markdown", "documentation"], { cwd: dir });
    expect(markdown.code).toBe(0);
    expect(markdown.stdout.startsWith("% mkosi(1)")).toBe(true);
    expect(markdown.stdout).toContain("## Command Line Verbs");
    const unknown = await runMkosi(["documentation", "nonsense"], { cwd: dir });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("Unknown manual nonsense");
  });

  it("dependencies lists the Debian packages, the runtime profile adds qemu, swtpm, nspawn", async () => {
    const dir = await temp("deps");
    const base = await runMkosi(["dependencies"], { cwd: dir });
    expect(base.code).toBe(0);
    const packages = base.stdout.trim().split("\n");
    for (const name of ["apt", "bubblewrap", "nodejs", "systemd", "zstd"]) expect(packages).toContain(name);
    expect(packages).not.toContain("swtpm");
    const runtime = await runMkosi(["dependencies", "--", "--profile", "runtime"], { cwd: dir });
    const all = runtime.stdout.trim().split("\n");
    for (const name of ["qemu-system-x86", "ovmf", "swtpm", "systemd-container", "openssh-client"])
      expect(all).toContain(name);
  });
});

describe("journalctl", () => {
  it("says why there is no journal to show", async () => {
    const dir = await temp("journal");
    const missing = await runMkosi(["--format=directory", "journalctl"], { cwd: dir });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("does not exist, so there is no journal to inspect");
    await mkdir(join(dir, "image/etc"), { recursive: true });
    const fresh = await runMkosi(["--format=directory", "journalctl"], { cwd: dir });
    expect(fresh.code).toBe(1);
    expect(fresh.stderr).toContain("has no persistent journal (/var/log/journal)");
  });
});

describe("sysupdate", () => {
  it("needs SysupdateDirectory= and a systemd-sysupdate new enough for --transfer-source=", async () => {
    const dir = await temp("sysupdate");
    writeFileSync(join(dir, "image.raw"), "");
    const none = await runMkosi(["--format=disk", "sysupdate"], { cwd: dir });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(
      "No sysupdate definitions: set SysupdateDirectory= or add mkosi.sysupdate/",
    );
    await mkdir(join(dir, "mkosi.sysupdate"));
    const run = await runMkosi(
      ["--format=disk", "--sysupdate-directory=mkosi.sysupdate", "sysupdate", "--", "list"],
      {
        cwd: dir,
      },
    );
    // This host's systemd (252) has no sysupdate of that age: the message says what to install.
    const host = spawnSync("sh", [
      "-c",
      "command -v systemd-sysupdate || test -x /usr/lib/systemd/systemd-sysupdate",
    ]);
    if (host.status !== 0) {
      expect(run.code).toBe(1);
      expect(run.stderr).toContain("systemd-sysupdate is not installed: install the Debian package systemd");
    } else {
      expect(run.stderr).not.toMatch(/\bat .*\.js:\d+/);
    }
  });
});

describe("sandbox", () => {
  let tree = "";
  beforeAll(async () => {
    tree = await mkdtemp("/var/tmp/mkosi-verbs-tools-");
    // A tools tree made cheaply: hard links to the host's /usr, plus a file only the tree has.
    execFileSync("cp", ["-al", "/usr", join(tree, "usr")]);
    writeFileSync(join(tree, "usr/share/mkosi-sandbox-marker"), "from the tools tree\n");
  });
  afterAll(async () => {
    if (tree) await rm(tree, { recursive: true, force: true });
  });

  it("runs a command with the tools tree's /usr and the host's everything else", async () => {
    const dir = await temp("sandbox");
    writeFileSync(join(dir, "here"), "the host's file\n");
    const run = await runMkosi(
      [`--tools-tree=${tree}`, "sandbox", "sh", "-c", "cat /usr/share/mkosi-sandbox-marker here"],
      { cwd: dir },
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("from the tools tree\nthe host's file\n");
    expect(existsSync("/usr/share/mkosi-sandbox-marker")).toBe(false);
    const plain = await runMkosi(
      ["sandbox", "sh", "-c", "test -e /usr/share/mkosi-sandbox-marker; echo $?"],
      {
        cwd: dir,
      },
    );
    expect(plain.stdout.trim()).toBe("1");
  });
});
