// Regression tests for reads that were not declared: sandbox trees seen through links to directories,
// sandbox trees handed to the package manager by cleanup and by scripts, build sources that every script
// kind sees, and the ids scripts run as.
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { DeclaredInputs } from "../../engine/api.js";
import { canonical } from "../../engine/encoding.js";
import type { ImageView } from "../../tasks/image.js";
import { planBuild } from "../../tasks/plan.js";
import { DIR, image, planEnv } from "./fixture.js";

function inputsOf(view: ImageView, step: string, env = planEnv()): DeclaredInputs {
  const node = planBuild([view], env).nodes.find((n) => n.label === step);
  if (!node) throw new Error(`no ${step} node`);
  return node.task.inputs(node.params);
}

const labels = (inputs: DeclaredInputs) => (inputs.paths ?? []).map(([label]) => label);

describe("sandbox trees", () => {
  let dir: string;
  let tree: string;
  let hostSources: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "mkosi-sandbox-links-"));
    tree = join(dir, "mkosi.sandbox");
    hostSources = join(dir, "host-sources.list.d");
    await mkdir(join(tree, "etc/apt"), { recursive: true });
    await mkdir(hostSources);
    await writeFile(join(hostSources, "debian.sources"), "Types: deb\nURIs: http://one.invalid\n");
    // A whole directory linked in: apt copies through it (cp -L).
    await symlink(hostSources, join(tree, "etc/apt/sources.list.d"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const view = () => image({ SandboxTrees: [{ Source: tree, Target: null }], RemovePackages: ["vim"] });

  it("a file inside a linked directory is part of every key that reads the trees", async () => {
    const steps = ["metadata", "bootstrap", "packages", "cleanup", "prepare", "build", "postinst"];
    const before = steps.map((step) => canonical(inputsOf(view(), step) as never));
    await writeFile(join(hostSources, "debian.sources"), "Types: deb\nURIs: http://two.invalid\n");
    const after = steps.map((step) => canonical(inputsOf(view(), step) as never));
    steps.forEach((step, i) => {
      expect(after[i], step).not.toBe(before[i]);
    });
  });

  it("a dangling link is an error naming it", async () => {
    await symlink(join(dir, "nowhere"), join(tree, "etc/apt/apt.conf.d"));
    expect(() => inputsOf(view(), "metadata")).toThrow(
      /SandboxTrees=.*etc\/apt\/apt\.conf\.d: dangling symbolic link/,
    );
  });

  it("a looping link is an error naming it", async () => {
    await symlink("..", join(hostSources, "parent"));
    expect(() => inputsOf(view(), "metadata")).toThrow(/symbolic link loop/);
  });

  it("are declared by cleanup when it removes packages, and by scripts that get the package manager", () => {
    expect(labels(inputsOf(view(), "cleanup"))).toContain(tree);
    expect(
      labels(inputsOf(image({ SandboxTrees: [{ Source: tree, Target: null }] }), "cleanup")),
    ).not.toContain(tree);
    for (const step of ["prepare", "build", "postinst", "finalize"])
      expect(labels(inputsOf(view(), step)), step).toContain(tree);
  });
});

describe("build sources", () => {
  it("are inputs of every step that runs scripts (they all see $SRCDIR)", () => {
    const view = image({ PostOutputScripts: [`${DIR}/mkosi.postoutput`] });
    for (const step of ["prepare", "build", "postinst", "finalize", "publish"]) {
      expect(labels(inputsOf(view, step)), step).toContain("BuildSources");
    }
  });

  it("are not inputs of publishing without post-output scripts", () => {
    expect(labels(inputsOf(image(), "publish"))).not.toContain("BuildSources");
  });

  it("BuildSourcesEphemeral= is an input of the script steps", () => {
    for (const step of ["prepare", "build", "postinst", "finalize"]) {
      const a = canonical(inputsOf(image(), step) as never);
      const b = canonical(inputsOf(image({ BuildSourcesEphemeral: "yes" }), step) as never);
      expect(b, step).not.toBe(a);
    }
  });

  it("BuildSourcesEphemeral=buildcache without a build directory fails while planning", () => {
    expect(() => inputsOf(image({ BuildSourcesEphemeral: "buildcache" }), "build")).toThrow(
      /BuildSourcesEphemeral=buildcache .* no build directory/,
    );
  });
});

describe("script environment", () => {
  it("declares the ids scripts run as ($MKOSI_UID/$MKOSI_GID come from sudo's caller)", () => {
    const env = (uid: number) => planEnv({ uid, gid: uid });
    const a = inputsOf(image(), "build", env(1000)).env;
    const b = inputsOf(image(), "build", env(1001)).env;
    expect(a?.MKOSI_UID).toBe("1000");
    expect(b?.MKOSI_UID).toBe("1001");
    expect(b?.MKOSI_GID).toBe("1001");
  });
});
