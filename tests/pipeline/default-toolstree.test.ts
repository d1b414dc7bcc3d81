// ToolsTree=default through the real pipeline: the default tools tree (Debian testing, mkosi's default
// package list) is planned as the "tools" image of the same graph, built first by the same steps, and
// its layer stack is the tools tree of the image's steps that run programs (they depend on its last
// layer). A cold build with a warm package cache takes about a minute and a half here.
import { rmSync, writeFileSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostMirrors, makeTree, PACKAGE_CACHE, runMkosi } from "./harness.js";

const conf = (toolsPackages = "") => `[Distribution]
Distribution=debian
Release=bookworm

[Output]
Format=directory
ImageId=default-tools

[Build]
ToolsTree=default
ToolsTreeSandboxTrees=tools.sandbox
${toolsPackages ? `ToolsTreePackages=${toolsPackages}` : ""}
PackageCacheDirectory=${PACKAGE_CACHE}
`;

/** The default tools tree's release (testing) through the host's mirror. */
function testingSources(): string {
  const { debian } = hostMirrors();
  return `Types: deb\nURIs: ${debian}\nSuites: testing\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`;
}

interface GraphJson {
  groups: { name: string; nodes: string[] }[];
  nodes: { id: string; group: string; status: string; deps: string[] }[];
}

describe("ToolsTree=default", () => {
  let dir = "";
  const env = () => ({ MKOSI_CACHE_DIR: join(dir, ".cache") });
  const graph = async (): Promise<GraphJson> => {
    const run = await runMkosi(["graph", "--format=json"], { cwd: dir, env: env() });
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as GraphJson;
  };
  const build = async () => {
    const run = await runMkosi(["--json", "build"], { cwd: dir, env: env() });
    if (run.code !== 0)
      throw new Error(`build failed (${run.code}):\n${run.stderr}\n${run.stdout.slice(-3000)}`);
    return run;
  };

  beforeAll(async () => {
    dir = await makeTree({
      files: {
        "mkosi.conf": conf(),
        "tools.sandbox/etc/apt/sources.list.d/mkosi.sources": testingSources(),
        // Scripts see the tools tree's /usr; a .chroot script runs inside the image (through the nested
        // bwrap of mkosi-chroot, which the default tools tree does not ship).
        "mkosi.postinst":
          '#!/bin/sh\n. /usr/lib/os-release && echo "$VERSION_CODENAME" > "$BUILDROOT/etc/tools-codename"\n',
        // Sync scripts run before the image graph: the tools tree is built for them first.
        "mkosi.sync":
          '#!/bin/sh\n. /usr/lib/os-release && echo "$VERSION_CODENAME" > "$SRCDIR/sync-codename"\n',
        "mkosi.finalize.chroot":
          '#!/bin/sh\n. /usr/lib/os-release && echo "$VERSION_CODENAME" > /etc/image-codename\n',
      },
    });
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("plans the tools tree as an image the steps that run programs depend on", async () => {
    const plan = await graph();
    expect(plan.groups.map((group) => group.name)).toEqual(["tools", "main"]);
    const tools = plan.groups.find((group) => group.name === "tools")!.nodes;
    // Built up to its last layer, never published.
    expect(tools).toContain("tools/packages");
    expect(tools).not.toContain("tools/publish");
    const users = plan.nodes
      .filter((node) => node.group === "main" && node.deps.includes("tools/cleanup"))
      .map((node) => node.id)
      .sort();
    expect(users).toEqual([
      "main/bootstrap",
      "main/finalize",
      "main/metadata",
      "main/postinst",
      "main/systemd-setup",
    ]);
    // (The sync node is planned ahead of the image graph, so `mkosi graph` does not show it.)
  });

  it("builds the tools tree first and runs the image's programs from it", async () => {
    const run = await build();
    const started = run.events.filter((e) => e.type === "started").map((e) => (e as { id: string }).id);
    const finished = run.events.filter((e) => e.type === "finished").map((e) => (e as { id: string }).id);
    expect(finished.indexOf("tools/cleanup")).toBeGreaterThanOrEqual(0);
    expect(started.indexOf("main/metadata")).toBeGreaterThan(-1);
    expect(finished.indexOf("tools/cleanup")).toBeLessThan(finished.indexOf("main/metadata"));
    const out = join(dir, "default-tools");
    const toolsCodename = (await readFile(join(out, "etc/tools-codename"), "utf8")).trim();
    expect(toolsCodename).not.toBe("");
    expect(toolsCodename).not.toBe("bookworm");
    expect((await readFile(join(out, "etc/image-codename"), "utf8")).trim()).toBe("bookworm");
    expect((await readFile(join(dir, "sync-codename"), "utf8")).trim()).toBe(toolsCodename);
    expect(started.indexOf("main/sync")).toBeGreaterThan(started.indexOf("tools/packages"));
    // A rebuild runs nothing but the sync script (which runs on every build); its one summary counts
    // the tools tree's nodes once, though both the sync run and the image run see them.
    const again = await build();
    expect(again.ran).toEqual(["main/sync"]);
    const done = again.events.filter((e) => e.type === "done");
    expect(done).toHaveLength(1);
    const nodes = new Set([...again.ran, ...again.cached]);
    expect(done[0]).toMatchObject({ ran: 1, cached: nodes.size - 1 });
  }, 900_000);

  it("a change to the tools tree reaches the image through its output digest", async () => {
    writeFileSync(join(dir, "mkosi.conf"), conf("hello"));
    const plan = await graph();
    const status = Object.fromEntries(plan.nodes.map((node) => [node.id, node.status]));
    expect(status["tools/packages"]).toBe("will-run");
    expect(status["tools/bootstrap"]).toBe("cached");
    // The image's steps that run the tools wait for the new tools tree; the others stay cached.
    expect(status["main/metadata"]).toBe("pending-deps");
    expect(status["main/skeleton"]).toBe("cached");
  });

  it("images that share a tools tree share its nodes", async () => {
    writeFileSync(join(dir, "mkosi.conf"), conf());
    await mkdir(join(dir, "mkosi.images"), { recursive: true });
    writeFileSync(join(dir, "mkosi.images/sub.conf"), "[Output]\nFormat=directory\n");
    const plan = await graph();
    expect(plan.groups.map((group) => group.name)).toEqual(["tools", "sub", "main"]);
    const users = (group: string) =>
      plan.nodes.filter((node) => node.group === group && node.deps.includes("tools/cleanup")).length;
    expect(users("sub")).toBeGreaterThan(0);
    expect(users("main")).toBeGreaterThan(0);
    // Everything cached: the tools tree built above serves both images.
    expect(plan.nodes.filter((node) => node.group === "tools").every((n) => n.status === "cached")).toBe(
      true,
    );
  });
});
