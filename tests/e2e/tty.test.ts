// `mkosi build` in a real pseudo-terminal: a tmux session of fixed size on a private tmux server, the
// command typed with send-keys, the screen read with capture-pane in a polling loop. Checks what the
// ink view shows while a build script runs (spinner line, the script's output, the status line), at
// the end (✔ per node, the summary), and on a second run (◦ cached per node, "is up to date").
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CUSTOM_TREE_NODES, customTree, MKOSI, makeTree, missingPrerequisite, type Tree } from "./helpers.js";
import { Tmux } from "./tmux.js";

const skip = missingPrerequisite(["tmux"]);
const NODES = CUSTOM_TREE_NODES;

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
