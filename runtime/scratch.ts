// Temporary files of one run (ephemeral copies, scratch directories, sockets, firmware variables, drives):
// removed when the run ends, when mkosi is interrupted, and, through a small guard process that waits for
// mkosi's pid to go away, even when mkosi is killed with SIGKILL.
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export class Scratch {
  private readonly paths: string[] = [];
  private readonly callbacks: (() => Promise<void> | void)[] = [];
  private guard: ReturnType<typeof spawn> | undefined;
  private readonly onExit = () => this.removeNow();

  constructor() {
    process.once("exit", this.onExit);
  }

  /** A new temporary directory (under `parent`, default $TMPDIR), removed with the run. */
  async directory(prefix: string, parent = tmpdir()): Promise<string> {
    const dir = await mkdtemp(join(parent, `${prefix}-`));
    this.remove(dir);
    return dir;
  }

  /** Remove `path` when the run ends. */
  remove(path: string): void {
    this.paths.push(path);
    this.restartGuard();
  }

  /** Run `fn` when the run ends (before paths are removed), e.g. to stop a helper process. */
  defer(fn: () => Promise<void> | void): void {
    this.callbacks.push(fn);
  }

  /** The guard runs in a process group of its own: end the shell and its `tail` together. */
  private stopGuard(): void {
    const pid = this.guard?.pid;
    this.guard = undefined;
    if (!pid) return;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }

  private restartGuard(): void {
    this.stopGuard();
    // `tail --pid` returns when mkosi is gone, however it went; then the paths are removed.
    this.guard = spawn(
      "sh",
      [
        "-c",
        'tail --pid="$1" -f /dev/null 2>/dev/null; shift; rm -rf -- "$@"',
        "mkosi-scratch-guard",
        String(process.pid),
        ...this.paths,
      ],
      { detached: true, stdio: "ignore" },
    );
    this.guard.unref();
  }

  private removeNow(): void {
    for (const path of this.paths.splice(0)) rmSync(path, { recursive: true, force: true });
  }

  async dispose(): Promise<void> {
    for (const fn of this.callbacks.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // best effort: the paths below are removed regardless
      }
    }
    for (const path of this.paths.splice(0)) await rm(path, { recursive: true, force: true });
    this.stopGuard();
    process.off("exit", this.onExit);
  }
}
