// Real builds of a small custom-distribution tree through bin/mkosi; after each kind of change,
// `mkosi graph --why NODE` (text) and `mkosi graph --format=json` must name exactly the input that
// changed. Also: the other graph formats, `--explain`, `--json` events and `--trace`.
//
// One tree is shared by the tests in order: each test changes one thing, checks the graph, then builds
// so the next one starts from a fully cached state.
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildJson,
  CUSTOM_TREE_NODES,
  conf,
  customTree,
  graphJson,
  makeTree,
  missingPrerequisite,
  mkosi,
  mkosiOk,
  type Tree,
} from "./helpers.js";

const skip = missingPrerequisite(["dot"]);
const NODES = CUSTOM_TREE_NODES;
const ids = (labels: string[]) => labels.map((l) => `main/${l}`);
const after = (label: string) => ids(NODES.slice(NODES.indexOf(label)));

describe.skipIf(skip !== undefined)(
  `mkosi graph --why after real builds${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    let tree: Tree;

    beforeAll(async () => {
      tree = await makeTree(customTree());
      const cold = await buildJson(tree);
      expect(cold.ran).toEqual(ids(NODES));
    });

    afterAll(async () => {
      await tree?.remove();
    });

    it("shows every node cached after a no-op, and build says so", async () => {
      const text = (await mkosiOk(tree, ["graph"])).stdout;
      expect(text).toContain("main · 8 cached");
      expect(text).toContain("0 of 8 nodes to run, 8 cached");
      for (const label of NODES) expect(text).toMatch(new RegExp(`${label}\\s+[0-9a-f]{12}\\s+cached\\b`));
      const { graph } = await graphJson(tree);
      expect(graph.nodes.map((n) => n.status)).toEqual(NODES.map(() => "cached"));

      const build = await mkosiOk(tree, ["--explain", "build"]);
      expect(build.stderr).toContain("Nothing to do: all 8 nodes cached.");
      expect(build.stderr).toContain("0 nodes run, 8 cached");
      // The "up to date" line comes through the renderer, after its summary.
      const lines = build.stderr.trimEnd().split("\n");
      expect(lines.at(-1)).toBe(`${join(tree.dir, "image_1.0")} is up to date`);
    });

    it("names a changed tree file: mkosi.extra/etc/motd", async () => {
      await tree.write({ "mkosi.extra/etc/motd": "changed\n" });
      const why = (await mkosiOk(tree, ["graph", "--why", "extras"])).stdout;
      expect(why).toContain("main/extras (task extras, image main)");
      expect(why).toContain("status: will run");
      expect(why).toContain("Reason: mkosi.extra/etc/motd changed");
      expect(why).toMatch(/mkosi\.extra \(tree, modified\)[\s\S]*modified: etc\/motd/);

      const { node } = await graphJson(tree);
      expect(node("main/extras").status).toBe("will-run");
      expect(node("main/extras").changes).toEqual([
        expect.objectContaining({
          kind: "path",
          name: "mkosi.extra",
          change: "modified",
          files: { added: [], removed: [], modified: ["etc/motd"] },
          summary: "mkosi.extra/etc/motd changed",
        }),
      ]);
      // The build script does not read mkosi.extra (BuildSources=src), so it stays cached.
      expect(node("main/build").status).toBe("cached");

      const built = await buildJson(tree);
      expect(built.ran).toEqual(after("extras"));
      expect(await readFile(join(tree.dir, "image_1.0/etc/motd"), "utf8")).toBe("changed\n");
    });

    it("names a changed script, and stops at an unchanged output (early cutoff)", async () => {
      await tree.write({ "mkosi.build": "#!/bin/sh\necho compiling main.c with -O2\necho installed\n" });
      const why = (await mkosiOk(tree, ["graph", "--why", "main/build"])).stdout;
      expect(why).toContain("Reason: mkosi.build changed");
      expect(why).toMatch(/mkosi\.build \(file, modified\)\n\s+old: f 755 [^\n]+\n\s+new: f 755 /);

      const { node } = await graphJson(tree);
      expect(node("main/build").changes).toEqual([
        expect.objectContaining({
          kind: "path",
          name: "mkosi.build",
          change: "modified",
          summary: "mkosi.build changed",
        }),
      ]);
      expect(node("main/extras").status).toBe("pending-deps");
      expect(node("main/extras").upstream).toEqual(["main/build"]);

      // The script writes nothing into the image: its output is unchanged and nothing after it reruns.
      const built = await buildJson(tree);
      expect(built.ran).toEqual(["main/build"]);
      expect(built.cached).toEqual(ids(NODES.filter((l) => l !== "build")));
    });

    it("names a changed setting with old and new values: ImageVersion=", async () => {
      await tree.write({ "mkosi.conf": conf({ ImageVersion: "1.1", Hostname: "alpha" }) });
      const why = (await mkosiOk(tree, ["graph", "--why", "config-files"])).stdout;
      expect(why).toContain("ImageVersion= changed: 1.0 → 1.1");
      expect(why).toMatch(/ImageVersion= \(setting, modified\)\n\s+old: 1\.0\n\s+new: 1\.1/);

      const { node } = await graphJson(tree);
      expect(node("main/config-files").changes).toContainEqual(
        expect.objectContaining({
          kind: "value",
          name: "ImageVersion",
          change: "modified",
          old: "1.0",
          new: "1.1",
        }),
      );
      // Scripts see the version in their environment.
      expect(node("main/postinst").changes).toContainEqual(
        expect.objectContaining({ kind: "env", name: "IMAGE_VERSION", old: "1.0", new: "1.1" }),
      );
      await buildJson(tree);
      expect(await readFile(join(tree.dir, "image_1.1/usr/lib/os-release"), "utf8")).toContain(
        'IMAGE_VERSION="1.1"',
      );
    });

    it("names a changed setting of a late step: Hostname= on systemd-setup", async () => {
      await tree.write({ "mkosi.conf": conf({ ImageVersion: "1.1", Hostname: "beta" }) });
      const why = (await mkosiOk(tree, ["graph", "--why", "systemd-setup"])).stdout;
      expect(why).toContain("Hostname= changed: alpha → beta");
      expect(why).toMatch(/Changed inputs:\n\s+Hostname= \(setting, modified\)\n\s+old: alpha\n\s+new: beta/);

      const { node } = await graphJson(tree);
      expect(node("main/systemd-setup").changes).toEqual([
        expect.objectContaining({ kind: "value", name: "Hostname", old: "alpha", new: "beta" }),
      ]);
      expect(node("main/skeleton").status).toBe("cached");
      await buildJson(tree);
      expect(await readFile(join(tree.dir, "image_1.1/etc/hostname"), "utf8")).toBe("beta\n");
    });

    it("follows an upstream output change down to the root cause", async () => {
      await tree.write({
        "mkosi.postinst": '#!/bin/sh\necho postinst ran\necho tuned > "$BUILDROOT/etc/tuned"\n',
      });
      const why = (await mkosiOk(tree, ["graph", "--why", "cleanup"])).stdout;
      expect(why).toContain("status: pending deps");
      expect(why).toContain("Reason: upstream systemd-setup will run ← postinst: mkosi.postinst changed");
      expect(why).toMatch(
        /Root cause:\n\s+cleanup ← systemd-setup ← config-files ← postinst: mkosi\.postinst changed\n\s+mkosi\.postinst \(file, modified\)/,
      );

      const { node } = await graphJson(tree);
      const cleanup = node("main/cleanup");
      expect(cleanup.status).toBe("pending-deps");
      expect(cleanup.changes).toEqual([]);
      expect(cleanup.upstream).toEqual(["main/systemd-setup"]);
      expect(cleanup.rootCauses).toEqual([
        {
          chain: ids(["cleanup", "systemd-setup", "config-files", "postinst"]),
          changes: [expect.objectContaining({ kind: "path", name: "mkosi.postinst", change: "modified" })],
        },
      ]);

      // --explain prints the reasons before the build log starts.
      const build = await mkosiOk(tree, ["--explain", "build"]);
      const explainAt = build.stderr.indexOf("5 of 8 nodes will run or may run:");
      const logAt = build.stderr.indexOf("#1 [main]");
      expect(explainAt).toBeGreaterThanOrEqual(0);
      expect(logAt).toBeGreaterThan(explainAt);
      expect(build.stderr.slice(explainAt, logAt)).toMatch(
        /\[main\] postinst\s+will run\s+mkosi\.postinst changed/,
      );
      expect(build.stderr.slice(explainAt, logAt)).toMatch(
        /\[main\] cleanup\s+pending deps\s+upstream systemd-setup will run ← postinst: mkosi\.postinst changed/,
      );
      expect(build.stderr).toContain("#4 [main] postinst RUNNING (mkosi.postinst changed)");
      expect(await readFile(join(tree.dir, "image_1.1/etc/tuned"), "utf8")).toBe("tuned\n");
    });

    it("colours --explain only for a terminal or FORCE_COLOR", async () => {
      await tree.write({ "mkosi.extra/etc/motd": "colour\n" });
      const plain = await mkosi(tree, ["--explain", "build"]);
      expect(plain.stderr).toContain("will run");
      expect(plain.stderr).not.toContain("\u001b[");
      await tree.write({ "mkosi.extra/etc/motd": "colour again\n" });
      const forced = await mkosiOk(tree, ["--explain", "build"], { NO_COLOR: undefined, FORCE_COLOR: "1" });
      const explain = forced.stderr.slice(0, forced.stderr.indexOf("#1 [main]"));
      expect(explain).toMatch(/\u001b\[[0-9;]*m\s*will run/);
    });

    it("rejects an unknown node with the candidates", async () => {
      const run = await mkosi(tree, ["graph", "--why", "no-such-step"]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^mkosi: no node "no-such-step"; nodes: main\/skeleton, main\/build, /);
      expect(run.stderr).toContain("main/postinst");
      const fuzzy = await mkosi(tree, ["graph", "--why", "setup"]);
      expect(fuzzy.code).toBe(1);
      expect(fuzzy.stderr).toBe('mkosi: no node "setup"; did you mean main/systemd-setup?\n');
    });

    it("renders DOT that graphviz accepts and Mermaid that starts with a flowchart", async () => {
      await tree.write({ "mkosi.extra/etc/motd": "for the picture\n" });
      const dot = (await mkosiOk(tree, ["graph", "--format=dot"])).stdout;
      expect(dot).toMatch(/^(strict )?digraph\b/);
      const svg = spawnSync("dot", ["-Tsvg"], { input: dot, encoding: "utf8" });
      expect(svg.stderr).toBe("");
      expect(svg.status).toBe(0);
      expect(svg.stdout).toContain("<svg");
      for (const label of NODES)
        expect(svg.stdout.replaceAll("&#45;", "-")).toContain(`<title>main/${label}</title>`);

      const mermaid = (await mkosiOk(tree, ["graph", "--format=mermaid"])).stdout;
      expect(mermaid).toMatch(/^flowchart (TD|TB|LR|BT|RL)\n/);
      for (const label of NODES) expect(mermaid).toContain(label);
    });

    it("--json build: one JSON event per line on stdout, nothing else", async () => {
      const run = await mkosiOk(tree, ["--json", "build"]);
      const lines = run.stdout.split("\n").filter((l) => l !== "");
      const events = lines.map((l) => JSON.parse(l) as { type: string; id?: string; line?: string });
      expect(events[0]!.type).toBe("planned");
      expect(events.at(-1)).toMatchObject({ type: "done", ok: true, ran: 6, cached: 2 });
      expect(events.filter((e) => e.type === "started").map((e) => e.id)).toEqual(after("extras"));
      expect(events).toContainEqual(
        expect.objectContaining({ type: "log", id: "main/postinst", line: "postinst ran" }),
      );
      expect(run.stderr).not.toMatch(/#\d+ \[main\]|is up to date/);
    });

    it("--trace FILE writes a Chrome trace", async () => {
      await tree.write({ "mkosi.extra/etc/motd": "traced\n" });
      const file = join(tree.root, "trace.json");
      await mkosiOk(tree, ["--trace", file, "build"]);
      const trace = JSON.parse(await readFile(file, "utf8")) as {
        traceEvents: {
          name: string;
          ph: string;
          ts: number;
          dur?: number;
          pid: number;
          tid: number;
          args?: { id?: string };
        }[];
      };
      const runs = trace.traceEvents.filter((e) => e.ph === "X");
      expect(runs.map((e) => e.args?.id)).toEqual(after("extras"));
      for (const e of runs) {
        expect(e.ts).toBeGreaterThanOrEqual(0);
        expect(e.dur).toBeGreaterThan(0);
      }
      const hits = trace.traceEvents.filter((e) => e.ph === "i").map((e) => e.args?.id);
      expect(hits).toEqual(ids(["skeleton", "build"]));
      expect(trace.traceEvents).toContainEqual(
        expect.objectContaining({ ph: "M", name: "process_name", args: { name: "main" } }),
      );
    });
  },
);
