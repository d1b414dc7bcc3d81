// --debug-shell in the sandbox layer: which shell runs where (the failing command's sandbox, with the
// shell in place of the command), and when the terminal is asked for. The shell itself, attached to a
// terminal, is exercised end to end in tests/e2e/debug-shell.test.ts.
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bwrapArgs,
  CommandError,
  debugShellArgs,
  runSandboxed,
  type SandboxOptions,
  shellIn,
  type TerminalHandoff,
} from "../../sandbox/run.js";

/** A handoff that records why it was asked for and does not start anything. */
function recorder(): { handoff: TerminalHandoff; titles: string[] } {
  const titles: string[] = [];
  const handoff: TerminalHandoff = async <T>(title: string) => {
    titles.push(title);
    return undefined as T;
  };
  return { handoff, titles };
}

const beforeCommand = (args: string[]) => args.slice(0, args.indexOf("--"));
const afterCommand = (args: string[]) => args.slice(args.indexOf("--") + 1);

describe("the debug shell's sandbox", () => {
  let base: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "mkosi-debug-shell-"));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it("is the failing command's sandbox with a shell in place of the command", () => {
    const { handoff } = recorder();
    const opts: SandboxOptions = {
      root: "/some/image",
      apivfs: true,
      env: { FOO: "bar" },
      cwd: "/work/src",
      binds: [{ src: "/tmp", dst: "/work/src" }],
      extraArgs: ["--setenv", "X", "1"],
      debugShell: { terminal: handoff },
    };
    const failing = bwrapArgs(["apt-get", "install", "vim"], opts);
    const shell = debugShellArgs(opts, { terminal: handoff });
    expect(beforeCommand(shell)).toEqual(beforeCommand(failing));
    // tools layout: the host's shell, with the image at /buildroot.
    expect(afterCommand(shell)).toEqual([shellIn("/")]);
    expect(shellIn("/")).toMatch(/\/bash$/);
  });

  it("prefers the image's bash in chroot mode, else its sh", async () => {
    const withBash = join(base, "with-bash");
    await mkdir(join(withBash, "usr/bin"), { recursive: true });
    await writeFile(join(withBash, "usr/bin/bash"), "");
    await symlink("usr/bin", join(withBash, "bin"));
    const bare = join(base, "bare");
    await mkdir(bare);
    const { handoff } = recorder();
    expect(afterCommand(debugShellArgs({ mode: "chroot", root: withBash }, { terminal: handoff }))).toEqual([
      "/bin/bash",
    ]);
    expect(afterCommand(debugShellArgs({ mode: "chroot", root: bare }, { terminal: handoff }))).toEqual([
      "/bin/sh",
    ]);
  });

  it("runs through the prefix that entered the image (mkosi-chroot), looking for bash in the image", async () => {
    const bare = join(base, "bare-prefix");
    await mkdir(bare);
    const { handoff } = recorder();
    const args = debugShellArgs(
      { root: bare },
      { terminal: handoff, prefix: ["/scripts/mkosi-chroot"], shellRoot: bare },
    );
    expect(afterCommand(args)).toEqual(["/scripts/mkosi-chroot", "/bin/sh"]);
  });
});

describe.skipIf(process.getuid?.() !== 0)("runSandboxed with a debug shell", () => {
  it("asks for the terminal after a failure, then throws the command's error", async () => {
    const { handoff, titles } = recorder();
    const err = await runSandboxed(["sh", "-c", "echo oops >&2; exit 4"], {
      debugShell: { terminal: handoff, what: "postinst script mkosi.postinst" },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).exitCode).toBe(4);
    expect((err as CommandError).message).toMatch(/exit status 4[\s\S]*oops/);
    expect(titles).toEqual([
      "postinst script mkosi.postinst failed with exit status 4: starting a debug shell in its sandbox (exit it to continue)",
    ]);
  });

  it("does not ask for it when the command succeeds or is cancelled", async () => {
    const { handoff, titles } = recorder();
    await runSandboxed(["true"], { debugShell: { terminal: handoff } });
    const ac = new AbortController();
    const p = runSandboxed(["sleep", "30"], { signal: ac.signal, debugShell: { terminal: handoff } });
    setTimeout(() => ac.abort(), 200);
    await expect(p).rejects.toThrow(/cancelled/);
    expect(titles).toEqual([]);
  });

  it("a shell that cannot start is reported, and the command's error still thrown", async () => {
    const failingHandoff: TerminalHandoff = () => Promise.reject(new Error("no terminal"));
    const writes: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => {
      writes.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      await expect(runSandboxed(["false"], { debugShell: { terminal: failingHandoff } })).rejects.toThrow(
        /exit status 1/,
      );
    } finally {
      process.stderr.write = write;
    }
    expect(writes.join("")).toContain("Could not start the debug shell: no terminal");
  });
});
