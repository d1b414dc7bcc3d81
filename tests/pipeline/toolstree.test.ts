// ToolsTree=<path> through the real pipeline: a tools tree made cheaply from the host's /usr (hard links)
// with wrappers around apt-get and systemd-sysusers that announce themselves. The build must run the
// tree's programs (the wrappers' lines appear in the steps' logs), and a change to a wrapper must rerun
// exactly the steps that run that program, while a change elsewhere in the tree reruns nothing.
import { execFileSync } from "node:child_process";
import { lstatSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EngineEvent } from "../../engine/api.js";
import { makeTree, PACKAGE_CACHE, runMkosi } from "./harness.js";

const conf = (tree: string) => `[Distribution]
Distribution=debian
Release=bookworm

[Output]
Format=directory
ImageId=toolstree

[Content]
Packages=systemd

[Build]
ToolsTree=${tree}
PackageCacheDirectory=${PACKAGE_CACHE}
`;

/** A wrapper that announces itself on stderr and runs the real program (renamed to `<name>.real`). */
function wrapper(name: string, version: string): string {
  return `#!/bin/sh\necho "tools-tree ${name} ${version}" >&2\nexec /usr/bin/${name}.real "$@"\n`;
}

function logsOf(events: EngineEvent[], pattern: RegExp): string[] {
  const ids = new Set<string>();
  for (const event of events) if (event.type === "log" && pattern.test(event.line)) ids.add(event.id);
  return [...ids].sort();
}

interface GraphNode {
  id: string;
  status: string;
  changes: { kind: string; name: string }[];
}

describe("ToolsTree= (a directory)", () => {
  let dir = "";
  let tree = "";
  const env = () => ({ MKOSI_CACHE_DIR: join(dir, ".cache") });
  const build = async () => {
    const run = await runMkosi(["--json", "build"], { cwd: dir, env: env() });
    if (run.code !== 0)
      throw new Error(`build failed (${run.code}):\n${run.stderr}\n${run.stdout.slice(-3000)}`);
    return run;
  };
  /** Nodes whose own inputs changed since their last run, with the names of those inputs. */
  const changed = async () => {
    const run = await runMkosi(["graph", "--format=json"], { cwd: dir, env: env() });
    expect(run.code, run.stderr).toBe(0);
    const graph = JSON.parse(run.stdout) as { nodes: GraphNode[] };
    return Object.fromEntries(
      graph.nodes
        .filter((node) => node.changes.length > 0)
        .map((node) => [node.id, node.changes.map((change) => `${change.kind}:${change.name}`).sort()]),
    );
  };
  const setWrapper = (name: string, version: string) => {
    // A new file (never written through the hard link to the host's program).
    rmSync(join(tree, "usr/bin", name));
    writeFileSync(join(tree, "usr/bin", name), wrapper(name, version), { mode: 0o755 });
  };

  beforeAll(async () => {
    // Hard links to the host's /usr (same filesystem as /var/tmp here): a full tree in a few seconds.
    tree = await mkdtemp("/var/tmp/mkosi-tools-tree-");
    execFileSync("cp", ["-al", "/usr", join(tree, "usr")]);
    for (const name of ["bin", "sbin", "lib", "lib32", "lib64", "libx32"]) {
      const st = lstatSync(`/${name}`, { throwIfNoEntry: false });
      if (st?.isSymbolicLink()) symlinkSync(readlinkSync(`/${name}`), join(tree, name));
    }
    for (const name of ["apt-get", "systemd-sysusers"]) {
      renameSync(join(tree, "usr/bin", name), join(tree, "usr/bin", `${name}.real`));
      writeFileSync(join(tree, "usr/bin", name), wrapper(name, "one"), { mode: 0o755 });
    }
    dir = await makeTree({ files: {} });
    writeFileSync(join(dir, "mkosi.conf"), conf(tree));
  }, 120_000);

  afterAll(() => {
    if (tree) rmSync(tree, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("runs apt and the systemd tools from the tree", async () => {
    const run = await build();
    expect(logsOf(run.events, /^tools-tree apt-get one$/)).toEqual([
      "main/bootstrap",
      "main/metadata",
      "main/packages",
    ]);
    expect(logsOf(run.events, /^tools-tree systemd-sysusers one$/)).toEqual(["main/systemd-setup"]);
  }, 900_000);

  it("a changed program reruns exactly the steps that run it", async () => {
    setWrapper("apt-get", "two");
    expect(await changed()).toEqual({
      "main/metadata": ["path:tools:apt-get"],
      "main/bootstrap": ["path:tools:apt-get"],
      "main/packages": ["path:tools:apt-get"],
    });
    const run = await build();
    expect(logsOf(run.events, /^tools-tree apt-get two$/)).toEqual([
      "main/bootstrap",
      "main/metadata",
      "main/packages",
    ]);

    setWrapper("systemd-sysusers", "two");
    expect(await changed()).toEqual({ "main/systemd-setup": ["path:tools:systemd-sysusers"] });
    const again = await build();
    expect(logsOf(again.events, /^tools-tree systemd-sysusers two$/)).toEqual(["main/systemd-setup"]);
    expect(again.ran).not.toContain("main/bootstrap");
  }, 900_000);

  it("a change elsewhere in the tree reruns nothing", async () => {
    writeFileSync(join(tree, "usr/bin/unrelated-tool"), "#!/bin/sh\n", { mode: 0o755 });
    expect(await changed()).toEqual({});
    expect((await build()).ran).toEqual([]);
  }, 300_000);
});
