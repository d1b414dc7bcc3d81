// `mkosi build` in a real pseudo-terminal: a tmux session of fixed size on a private tmux server, the
// command typed with send-keys, the screen read with capture-pane in a polling loop. Checks what the
// ink view shows while a build script runs (spinner line, the script's output, the status line), at
// the end (✔ per node, the summary), and on a second run (◦ cached per node, "is up to date").
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { customTree, MKOSI, makeTree, missingPrerequisite, type Tree } from "./helpers.js";

const skip = missingPrerequisite(["tmux"]);
const COLUMNS = 120;
const ROWS = 40;
const NODES = [
  "skeleton",
  "build",
  "extras",
  "postinst",
  "config-files",
  "systemd-setup",
  "cleanup",
  "publish",
];

/** A tmux server of our own (-L), so nothing here touches the user's sessions and cleanup is one kill. */
class Tmux {
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

describe.skipIf(skip !== undefined)(`mkosi build on a terminal${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let tree: Tree;
  let tmux: Tmux;

  const command = (marker: string) => `MKOSI_CACHE_DIR='${tree.cache}' '${MKOSI}' build; echo "${marker}=$?"`;

  beforeAll(async () => {
    tree = await makeTree(
      customTree({
        // Slow enough that the live area is on screen for a while, with output arriving in steps.
        "mkosi.build":
          "#!/bin/sh\necho 'compile: step one'\nsleep 2\necho 'compile: step two'\nsleep 2\necho 'compile: done'\n",
      }),
    );
    tmux = new Tmux();
    tmux.start(tree.dir);
  });

  afterAll(async () => {
    tmux?.kill();
    await tree?.remove();
  });

  it("shows running nodes with their output live, then finished nodes and the summary", async () => {
    tmux.type(command("FIRST"));

    // Live: the spinner line of the running build script, its last output lines, the status line.
    const live = await tmux.waitFor("the build script running with output", (s) =>
      s.includes("│ compile: step one"),
    );
    expect(live).toMatch(/^main \d\/8$/m);
    expect(live).toMatch(/^ {2}[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] build \d+(ms|\.\ds) never built$/m);
    expect(live).toMatch(/^ {4}│ compile: step one$/m);
    expect(live).toMatch(/^1 running · 6 queued · 1 done · 0 cached · [\d.]+m?s$/m);
    expect(live).toMatch(/^✔ \[main\] skeleton \S+ · \S+ kB never built$/m);

    // Output arriving later shows up under the same node while it still runs.
    const later = await tmux.waitFor("the script's second line", (s) => s.includes("│ compile: step two"));
    expect(later).toMatch(/^ {4}│ compile: step one\n {4}│ compile: step two$/m);
    expect(later).toMatch(/^ {2}[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] build /m);

    const end = await tmux.waitFor("the end of the build", (s) => /^FIRST=\d+$/m.test(s));
    expect(end).toMatch(/^FIRST=0$/m);
    for (const label of NODES) expect(end).toMatch(new RegExp(`^✔ \\[main\\] ${label} .* never built$`, "m"));
    expect(end).toMatch(/^✔ \[main\] build [\d.]+s · /m);
    expect(end).toMatch(/^Build finished in [\d.]+m?s: 8 nodes run, 0 cached$/m);
    // The live area is gone: no spinner, no status line, no script output left on the screen.
    expect(end).not.toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]|running ·|│ compile/);
  });

  it("shows every node cached and the output up to date on a second run", async () => {
    tmux.type("clear");
    await tmux.waitFor("a cleared screen", (s) => !s.includes("FIRST="));
    tmux.type(command("SECOND"));
    const end = await tmux.waitFor("the end of the second build", (s) => /^SECOND=\d+$/m.test(s));
    expect(end).toMatch(/^SECOND=0$/m);
    for (const label of NODES) expect(end).toMatch(new RegExp(`^◦ \\[main\\] ${label} cached$`, "m"));
    expect(end).not.toContain("✔");
    expect(end).toMatch(/^Build finished in [\d.]+m?s: 0 nodes run, 8 cached \(saved [\d.]+m?s\)$/m);
    expect(end).toContain(`${tree.dir}/image_1.0 is up to date`);
    // Each line once: the final frame does not repeat what <Static> already wrote.
    expect(end.match(/is up to date/g)).toHaveLength(1);
    expect(end.match(/Build finished/g)).toHaveLength(1);
  });

  it("shows the reason a node reruns after a change", async () => {
    await tree.write({ "mkosi.extra/etc/motd": "changed on a terminal\n" });
    tmux.type("clear");
    await tmux.waitFor("a cleared screen", (s) => !s.includes("SECOND="));
    tmux.type(command("THIRD"));
    const end = await tmux.waitFor("the end of the third build", (s) => /^THIRD=\d+$/m.test(s));
    expect(end).toMatch(/^THIRD=0$/m);
    expect(end).toMatch(/^◦ \[main\] skeleton cached$/m);
    expect(end).toMatch(/^◦ \[main\] build cached$/m);
    expect(end).toMatch(/^✔ \[main\] extras .* mkosi\.extra\/etc\/motd changed$/m);
    expect(end).toMatch(/^Build finished in [\d.]+m?s: 6 nodes run, 2 cached/m);
    expect(end).not.toContain("is up to date");
  });
});
