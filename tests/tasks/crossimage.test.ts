// Edges between images from what steps read (tasks/crossimage.ts), checked on the plan: which steps of
// an image depend on which node of another, and which stay independent of it (so they run in parallel).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { crossImageInputs, imageOutputs, OutputMap, producedInBuild } from "../../tasks/crossimage.js";
import type { ImageView } from "../../tasks/image.js";
import { planBuild } from "../../tasks/plan.js";
import { preflight } from "../../tasks/preflight.js";
import { DIR, image, planEnv } from "./fixture.js";

const OUT = `${DIR}/mkosi.output`;

/** Dependencies (node ids) of every node, by node id. */
function edges(images: ImageView[]): Record<string, string[]> {
  const plan = planBuild(images, planEnv());
  return Object.fromEntries(
    plan.nodes.map((node) => [node.id, Object.values(node.task.inputs(node.params).deps ?? {}).sort()]),
  );
}

/** Path labels a node declares. */
function paths(images: ImageView[], id: string): string[] {
  const node = planBuild(images, planEnv()).nodes.find((n) => n.id === id);
  if (!node) throw new Error(`no node ${id}`);
  return (node.task.inputs(node.params).paths ?? []).map(([label]) => label);
}

const alpha = (overrides: Partial<ImageView> = {}) =>
  image({
    Image: "alpha",
    Output: "alpha",
    OutputDirectory: OUT,
    PrepareScripts: [],
    BuildScripts: [],
    PostInstallationScripts: [],
    FinalizeScripts: [],
    ...overrides,
  });

const main = (overrides: Partial<ImageView> = {}) =>
  image({
    Dependencies: ["alpha"],
    OutputDirectory: OUT,
    PrepareScripts: [],
    BuildScripts: [],
    PostInstallationScripts: [],
    FinalizeScripts: [],
    ...overrides,
  });

describe("edges between images", () => {
  it("BaseTrees=%O/alpha: base-trees depends on alpha/publish, the path is not fingerprinted", () => {
    const graph = edges([alpha(), main({ BaseTrees: [`${OUT}/alpha`] })]);
    expect(graph["main/base-trees"]).toEqual(["alpha/publish"]);
    expect(paths([alpha(), main({ BaseTrees: [`${OUT}/alpha`] })], "main/base-trees")).toEqual([]);
  });

  it("only the steps that read alpha's output depend on it; the others run in parallel with alpha", () => {
    const graph = edges([alpha(), main({ ExtraTrees: [{ Source: `${OUT}/alpha`, Target: "/a" }] })]);
    expect(graph["main/extras"]).toContain("alpha/publish");
    for (const step of ["metadata", "skeleton", "bootstrap", "packages"])
      expect(
        graph[`main/${step}`]!.some((id) => id.startsWith("alpha/")),
        step,
      ).toBe(false);
  });

  it("every setting that names an output: SkeletonTrees=, PackageDirectories=, split artifacts, tar outputs", () => {
    const graph = edges([
      alpha({ Format: "tar", CompressOutput: "zstd", OutputExtension: "tar" }),
      main({
        SkeletonTrees: [{ Source: `${OUT}/alpha.tar.zst`, Target: null }],
        PackageDirectories: [`${OUT}/alpha.debs`],
        ExtraTrees: [{ Source: `${OUT}/alpha.root-x86-64.raw`, Target: "/usr/share/alpha.raw" }],
      }),
    ]);
    expect(graph["main/skeleton"]).toEqual(["alpha/publish"]);
    expect(graph["main/packages"]).toContain("alpha/publish");
    expect(graph["main/extras"]).toContain("alpha/publish");
  });

  it("ToolsTree=%O/tools: the steps that run programs depend on tools/publish, the others do not", () => {
    const tools = alpha({ Image: "tools", Output: "tools" });
    const graph = edges([tools, main({ Dependencies: ["tools"], ToolsTree: `${OUT}/tools` })]);
    for (const step of ["metadata", "bootstrap", "packages", "systemd-setup"])
      expect(graph[`main/${step}`], step).toContain("tools/publish");
    for (const step of ["skeleton", "extras", "config-files", "publish"])
      expect(graph[`main/${step}`], step).not.toContain("tools/publish");
  });

  it("scripts may read anything: they depend on every image of Dependencies= (transitively)", () => {
    const base = alpha({ Image: "base", Output: "base" });
    const mid = alpha({ Dependencies: ["base"] });
    const graph = edges([base, mid, main({ PostInstallationScripts: [`${DIR}/mkosi.postinst`] })]);
    expect(graph["main/postinst"]).toEqual(expect.arrayContaining(["alpha/publish", "base/publish"]));
    // Steps without scripts get no such edge.
    expect(graph["main/config-files"]!.some((id) => id.includes("/publish"))).toBe(false);
  });

  it("a Format=none build image: its packages and the whole of it are its build node", () => {
    const builder = alpha({
      Image: "build",
      Output: "build",
      Format: "none",
      BuildScripts: [`${DIR}/mkosi.images/build/mkosi.build`],
    });
    const graph = edges([
      builder,
      main({
        Dependencies: ["build"],
        PostInstallationScripts: [`${DIR}/mkosi.postinst`],
        VolatilePackages: ["hello"],
      }),
    ]);
    expect(graph["main/packages"]).toContain("build/build");
    expect(graph["main/volatile-packages"]).toContain("build/build");
    expect(graph["main/postinst"]).toContain("build/build");
    // The base system is installed while the packages are built.
    expect(graph["main/bootstrap"]).not.toContain("build/build");
    expect(graph["main/metadata"]).not.toContain("build/build");
  });

  it("an image built later is not a producer (no cycle); its outputs stay plain paths", () => {
    const graph = edges([main({ Image: "first", Output: "first", BaseTrees: [`${OUT}/alpha`] }), alpha()]);
    expect(graph["first/base-trees"]).toEqual([]);
  });

  it("preflight: a tree source another image publishes first need not exist yet; others must", () => {
    const images = [
      alpha({ ExtraTrees: [] }),
      main({ ExtraTrees: [{ Source: `${OUT}/alpha`, Target: null }] }),
    ];
    const produced = producedInBuild(images, DIR);
    expect(produced(1, `${OUT}/alpha`)).toBe(true);
    expect(produced(1, `${OUT}/alpha.root-x86-64.raw`)).toBe(true);
    expect(produced(0, `${OUT}/alpha`)).toBe(false);
    expect(produced(1, `${OUT}/beta`)).toBe(false);
    expect(preflight(images, produced)).toBeUndefined();
    expect(preflight(images)).toMatch(/ExtraTrees=.*mkosi\.output\/alpha: does not exist/);
  });
});

describe("OutputMap", () => {
  const tmp = mkdtempSync(join(tmpdir(), "mkosi-outputmap-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const outputs = (name: string, overrides: Partial<ImageView> = {}) =>
    imageOutputs(
      alpha({ Image: name, Output: name, OutputDirectory: tmp, ...overrides }),
      DIR,
      `${name}/publish`,
    );

  it("names the image whose Output= prefixes the entry (the longest)", () => {
    const map = new OutputMap([outputs("minimal"), outputs("minimal-0")], []);
    expect(map.read(join(tmp, "minimal-0.root-x86-64.raw"))).toEqual({
      kind: "inside",
      nodes: ["minimal-0/publish"],
    });
    expect(map.read(join(tmp, "minimal/etc/os-release"))).toEqual({
      kind: "inside",
      nodes: ["minimal/publish"],
    });
    expect(map.read(join(tmp, "other.txt"))).toEqual({ kind: "unrelated" });
    expect(map.read("/somewhere/else")).toEqual({ kind: "unrelated" });
  });

  it("a name no Output= gives belongs to the images whose scripts may write any name", () => {
    const writer = outputs("alpha", { PostInstallationScripts: [`${DIR}/mkosi.postinst`] });
    const map = new OutputMap([writer, outputs("beta")], []);
    expect(map.read(join(tmp, "keydev.raw"))).toEqual({ kind: "inside", nodes: ["alpha/publish"] });
  });

  it("a directory holding outputs keeps its fingerprint without them, and depends on their images", () => {
    mkdirSync(join(tmp, "alpha"), { recursive: true });
    writeFileSync(join(tmp, "alpha.tar"), "");
    writeFileSync(join(tmp, "main.raw"), "");
    writeFileSync(join(tmp, "notes.txt"), "");
    const all = [outputs("alpha"), outputs("main")];
    const map = new OutputMap([all[0]!], all);
    expect(map.read(tmp)).toEqual({
      kind: "contains",
      nodes: ["alpha/publish"],
      exclude: ["alpha", "alpha.tar", "main.raw"],
    });
    // Already excluded by the step (the build sources leave the output directory out): no edge.
    const parent = join(tmp, "..");
    const rel = tmp.slice(parent.length + 1);
    expect(map.read(parent, [rel])).toEqual({ kind: "unrelated" });
  });

  it("crossImageInputs turns such paths into dependencies labelled by node id (Initrds=%O/initrd too)", () => {
    const map = new OutputMap([outputs("initrd")], []);
    const inputs = crossImageInputs(
      {
        paths: [
          ["Initrds", join(tmp, "initrd.cpio.zst")],
          ["other", "/etc/hostname"],
        ],
        deps: { image: "x" },
      },
      map,
      [],
    );
    expect(inputs).toEqual({
      paths: [["other", "/etc/hostname"]],
      deps: { image: "x", "initrd/publish": "initrd/publish" },
    });
  });
});

describe("build sources and the directories this invocation writes", () => {
  it("no image's build sources hold another image's output, build or cache directory", () => {
    const tools = image({
      Image: "tools",
      Output: "tools",
      OutputDirectory: null,
      PrepareScripts: [`${DIR}/mkosi.tools.conf/mkosi.prepare`],
      BuildScripts: [],
      PostInstallationScripts: [],
      FinalizeScripts: [],
    });
    const main = image({
      OutputDirectory: `${DIR}/build/mkosi.output`,
      BuildDirectory: `${DIR}/build/mkosi.builddir`,
      CacheDirectory: `${DIR}/build/mkosi.cache`,
    });
    const plan = planBuild([main], planEnv(), tools);
    const prepare = plan.nodes.find((node) => node.id === "tools/prepare");
    if (!prepare) throw new Error("no tools/prepare");
    const sources = (prepare.task.inputs(prepare.params).paths ?? []).find(([label]) =>
      label.startsWith("BuildSources"),
    );
    expect(sources?.[1]).toMatchObject({
      exclude: expect.arrayContaining(["build/mkosi.builddir", "build/mkosi.cache", "build/mkosi.output"]),
    });
  });
});
