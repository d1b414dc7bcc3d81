// A pseudo-terminal for end-to-end tests: a tmux session of fixed size on a private tmux server, input
// typed with send-keys, the screen read with capture-pane in a polling loop.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

const COLUMNS = 120;
const ROWS = 40;

/** A tmux server of our own (-L), so nothing here touches the user's sessions and cleanup is one kill. */
export class Tmux {
  readonly socket = `mkosi-e2e-${process.pid}-${Date.now()}`;
  readonly session = "build";

  run(args: string[]): string {
    const r = spawnSync("tmux", ["-L", this.socket, ...args], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`tmux ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  }

  start(cwd: string): void {
    // A plain shell with a fixed prompt; the terminal has a fixed size.
    this.run([
      "new-session",
      "-d",
      "-s",
      this.session,
      "-x",
      String(COLUMNS),
      "-y",
      String(ROWS),
      "-c",
      cwd,
      "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=tmux-256color PS1='$ ' sh",
    ]);
    this.run(["set-option", "-t", this.session, "status", "off"]);
  }

  /** A key by tmux's name for it ("C-c", "Enter"). */
  key(name: string): void {
    this.run(["send-keys", "-t", this.session, name]);
  }

  type(line: string): void {
    this.run(["send-keys", "-t", this.session, "-l", line]);
    this.run(["send-keys", "-t", this.session, "Enter"]);
  }

  /** The visible screen, trailing blank lines removed. */
  screen(): string {
    return this.run(["capture-pane", "-p", "-t", this.session]).replace(/\s+$/, "");
  }

  /** Poll the screen until `ready` holds; fails with the last screen after the timeout. */
  async waitFor(what: string, ready: (screen: string) => boolean, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      last = this.screen();
      if (ready(last)) return last;
      await sleep(50);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; screen:\n${last}`);
  }

  kill(): void {
    const path = spawnSync("tmux", ["-L", this.socket, "display-message", "-p", "#{socket_path}"], {
      encoding: "utf8",
    }).stdout.trim();
    spawnSync("tmux", ["-L", this.socket, "kill-server"]);
    // tmux leaves the socket file of a killed server behind.
    if (path.includes(this.socket)) rmSync(path, { force: true });
  }
}
