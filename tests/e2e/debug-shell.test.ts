// --debug-shell end to end, on a custom-distribution image (no package manager, builds take a second):
// a failing build script is followed by a shell in its sandbox, driven here through a pipe on stdin and
// through a real terminal (tmux), where the ink view stands aside while the shell runs and Ctrl-C belongs
// to the shell. The build fails either way and the failed step is not cached. The same through a real
// Debian image and a `.chroot` script (the shell inside the image) is in tests/pipeline/debug-shell.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { customTree, MKOSI, makeTree, missingPrerequisite, mkosi, type Tree } from "./helpers.js";
import { Tmux } from "./tmux.js";

const skip = missingPrerequisite();

const FAILING_BUILD =
  '#!/bin/sh\necho compiling\necho left-by-the-build-script > "$BUILDROOT/left-behind"\necho about to fail\nexit 7\n';

/** What the shell is fed: each line shows something only the failing script's sandbox has. */
const SHELL_INPUT = [
  "echo marker-$((6*7))",
  'echo "destdir=$DESTDIR pwd=$(pwd)"',
  'cat "$BUILDROOT/left-behind"',
  'head -1 "$BUILDROOT/usr/lib/os-release"',
  "exit 5",
  "",
].join("\n");

describe.skipIf(skip !== undefined)(`--debug-shell${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let tree: Tree;

  beforeAll(async () => {
    tree = await makeTree(customTree({ "mkosi.build": FAILING_BUILD }));
  });

  afterAll(async () => {
    await tree?.remove();
  });

  it("a failing build script opens a shell in its sandbox with the image as the script left it", async () => {
    const run = await mkosi(tree, ["--debug-shell", "build"], {}, { input: SHELL_INPUT });
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toContain("marker-42");
    expect(run.stdout).toContain("destdir=/work/dest pwd=/work/src");
    expect(run.stdout).toContain("left-by-the-build-script");
    expect(run.stdout).toContain("ID=custom");
    expect(run.stderr).toContain(
      "‣ build script mkosi.build failed with exit status 7: starting a debug shell in its sandbox (exit it to continue)",
    );
    // The shell came after the script's output and before the failure was reported.
    const stderr = run.stderr;
    expect(stderr.indexOf("about to fail")).toBeLessThan(stderr.indexOf("starting a debug shell"));
    expect(stderr.indexOf("starting a debug shell")).toBeLessThan(stderr.indexOf("[main] build ERROR"));
    expect(stderr).toMatch(/ERROR: \[main\] build: build script mkosi\.build failed/);
    expect(stderr).toContain("[main] publish SKIPPED");
  });

  it("without the flag nothing reads stdin, and the failed step runs again (it was not cached)", async () => {
    const run = await mkosi(tree, ["build"], {}, { input: SHELL_INPUT });
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).not.toContain("marker-42");
    expect(run.stderr).not.toContain("debug shell");
    expect(run.stderr).toContain("[main] skeleton CACHED");
    expect(run.stderr).toContain("[main] build RUNNING");
    expect(run.stderr).toMatch(/\[main\] build ERROR .*exit status 7/);
  });

  it("a build that does not fail never starts a shell", async () => {
    await tree.write({ "mkosi.build": "#!/bin/sh\necho compiling\n" });
    const run = await mkosi(tree, ["--debug-shell", "build"], {}, { input: SHELL_INPUT });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).not.toContain("marker-42");
    expect(run.stderr).not.toContain("debug shell");
    await tree.write({ "mkosi.build": FAILING_BUILD });
  });
});

describe.skipIf(missingPrerequisite(["tmux"]) !== undefined)("--debug-shell on a terminal", () => {
  let tree: Tree;
  let tmux: Tmux;

  beforeAll(async () => {
    tree = await makeTree(customTree({ "mkosi.build": FAILING_BUILD }));
    tmux = new Tmux();
    tmux.start(tree.dir);
  });

  afterAll(async () => {
    // A shell left open by a failed assertion: end it, so mkosi unmounts the image before it goes.
    if (tmux && !/^RC=\d+$/m.test(tmux.screen())) {
      tmux.key("C-c");
      tmux.type("exit");
      await tmux.waitFor("mkosi to end", (s) => /^RC=\d+$/m.test(s), 20_000).catch(() => undefined);
    }
    tmux?.kill();
    await tree?.remove();
  });

  it("the progress view stands aside for an interactive shell, Ctrl-C is the shell's, the build fails after it", async () => {
    tmux.type(`MKOSI_CACHE_DIR='${tree.cache}' '${MKOSI}' --debug-shell build; echo "RC=$?"`);
    // The shell's prompt (the screen's trailing blanks are trimmed) under the message.
    const shell = await tmux.waitFor("the debug shell", (s) => /starting a debug shell.*\n.*#$/.test(s));
    // No live area while the shell has the terminal: no spinner, no status line.
    expect(shell).not.toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]|running ·/);
    expect(shell).toMatch(/^✔ \[main\] skeleton /m);

    tmux.type('echo marker-$((6*7)); cat "$BUILDROOT/left-behind"');
    const answered = await tmux.waitFor("the shell's answer", (s) => /^left-by-the-build-script$/m.test(s));
    expect(answered).toMatch(/^marker-42$/m);

    // Ctrl-C interrupts the shell's command line, not the build.
    tmux.type("sleep 30");
    await new Promise((r) => setTimeout(r, 300));
    tmux.key("C-c");
    tmux.type("echo still-here-$((1+1))");
    await tmux.waitFor("the shell after Ctrl-C", (s) => /^still-here-2$/m.test(s));

    tmux.type("exit");
    const end = await tmux.waitFor("the end of the build", (s) => /^RC=\d+$/m.test(s));
    expect(end).toMatch(/^RC=1$/m);
    expect(end).toMatch(/^✘ \[main\] build failed after /m);
    expect(end).toMatch(/^Build failed after /m);
    // Each finished line once: the view that came back did not repeat what was written before the shell.
    expect(end.match(/✔ \[main\] skeleton/g)).toHaveLength(1);
  }, 120_000);
});
