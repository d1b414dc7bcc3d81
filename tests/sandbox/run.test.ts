import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bwrapArgs, CommandError, runCommand, runSandboxed } from "../../sandbox/run.js";

describe("runCommand", () => {
  it("streams lines, passes the exact environment, captures stdout", async () => {
    const lines: string[] = [];
    await runCommand(["sh", "-c", 'echo one; echo two >&2; echo "$FOO:$HOME"'], {
      env: { FOO: "bar" },
      onOutput: (l, s) => lines.push(`${s}:${l}`),
    });
    expect(lines).toEqual(expect.arrayContaining(["stdout:one", "stderr:two", "stdout:bar:"]));
    const r = await runCommand(["sh", "-c", "printf 'a\\nb'"], { captureStdout: true });
    expect(r.stdout).toBe("a\nb");
  });

  it("reports failures with the output tail", async () => {
    const err = await runCommand(["sh", "-c", "echo oops >&2; exit 3"]).catch((e) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/exit status 3[\s\S]*oops/);
  });

  it("kills the whole process group on abort", async () => {
    const ac = new AbortController();
    const started = Date.now();
    const p = runCommand(["sh", "-c", "sleep 30 & sleep 30; wait"], { signal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    await expect(p).rejects.toThrow(/cancelled/);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe.skipIf(process.getuid?.() !== 0)("runSandboxed", () => {
  let base: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "mkosi-run-test-"));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it("binds the image at /buildroot with host tools, no network by default", async () => {
    const root = join(base, "root");
    await mkdir(root);
    const src = join(base, "src");
    await mkdir(src);
    await writeFile(join(src, "hello"), "hi");
    const r = await runSandboxed(
      [
        "sh",
        "-c",
        "cat /work/src/hello > /buildroot/copied; pwd; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; id -u",
      ],
      { root, binds: [{ src, dst: "/work/src", readOnly: true }], cwd: "/work/src", captureStdout: true },
    );
    expect(await readFile(join(root, "copied"), "utf8")).toBe("hi");
    const [pwd, nets, uid] = r.stdout.trim().split("\n");
    expect(pwd).toBe("/work/src");
    expect(nets!.trim()).toBe("lo");
    expect(uid).toBe("0");
    // Read-only source bind.
    await expect(
      runSandboxed(["sh", "-c", "touch /work/src/x"], { binds: [{ src, dst: "/work/src", readOnly: true }] }),
    ).rejects.toThrow(/exit status/);
    // Host is not writable: /usr is read-only.
    await expect(runSandboxed(["touch", "/usr/mkosi-test"], {})).rejects.toThrow(CommandError);
  });

  it("keeps the network when asked", async () => {
    const r = await runSandboxed(["sh", "-c", "tail -n +3 /proc/net/dev | wc -l"], {
      network: true,
      captureStdout: true,
    });
    expect(Number(r.stdout.trim())).toBeGreaterThan(1);
  });

  it("kills sandboxed processes on abort", async () => {
    const ac = new AbortController();
    // Durations no other test uses: the check below looks at every process of the machine, and other test
    // files (run at the same time) sleep 300 in their scripts.
    const p = runSandboxed(["sh", "-c", "sleep 4711 & sleep 4712"], { signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    await expect(p).rejects.toThrow(/cancelled/);
    // The PID namespace's processes die when its init does; under load that can take a moment.
    const survivors = async () =>
      (
        await runCommand(["sh", "-c", "ps -eo args | grep -c '^sleep 471[12]$' || true"], {
          captureStdout: true,
        })
      ).stdout.trim();
    let left = await survivors();
    for (let i = 0; i < 50 && left !== "0"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = await survivors();
    }
    expect(left).toBe("0");
  });
});

describe.skipIf(process.getuid?.() !== 0)("runSandboxed unprivileged", () => {
  it("maps an unprivileged caller to root in a user namespace (becomeRoot)", async () => {
    const args = bwrapArgs(["sh", "-c", "id -u; touch /buildroot/f && stat -c %u /buildroot/f"], {
      privileged: false,
      becomeRoot: true,
      root: "/tmp/mkosi-unpriv-root",
    });
    await runCommand(["install", "-d", "-o", "65534", "-g", "65534", "/tmp/mkosi-unpriv-root"]);
    try {
      const r = await runCommand(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bwrap", ...args],
        {
          captureStdout: true,
          cwd: "/",
        },
      );
      expect(r.stdout.trim().split("\n")).toEqual(["0", "0"]);
      const { stat } = await import("node:fs/promises");
      expect((await stat("/tmp/mkosi-unpriv-root/f")).uid).toBe(65534); // really owned by the caller
    } finally {
      await rm("/tmp/mkosi-unpriv-root", { recursive: true, force: true });
    }
  });
});
