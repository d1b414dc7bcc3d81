// Declared inputs of every pipeline step: changing a setting a step reads changes that step's declared
// inputs (so its key), and changing a setting it does not read leaves them alone. With the engine's own
// invalidation tests (a changed input reruns the node, an unchanged one hits the cache), this covers the
// "every cached node gets an invalidation test" rule for each step without building images.
import { describe, expect, it } from "vitest";
import { canonical } from "../../engine/encoding.js";
import { wantsDefaultInitrd } from "../../formats/boot.js";
import type { ImageView } from "../../tasks/image.js";
import { planBuild } from "../../tasks/plan.js";
import { image, planEnv } from "./fixture.js";

/** Declared inputs of every node, canonically encoded, by step name. */
function declared(view: ImageView, env = planEnv()): Record<string, string> {
  const plan = planBuild([view], env);
  return Object.fromEntries(
    plan.nodes.map((node) => [
      node.label ?? node.task.name,
      canonical(node.task.inputs(node.params) as never),
    ]),
  );
}

function changedSteps(change: Partial<ImageView>): string[] {
  const before = declared(image());
  const after = declared(image(change));
  return Object.keys(after)
    .filter((step) => before[step] !== after[step])
    .sort();
}

// Steps that read the whole $MKOSI_CONFIG (every script step): any config change reaches them.
const SCRIPT_STEPS = ["build", "build-overlay", "finalize", "postinst", "prepare"];

describe("declared inputs per setting", () => {
  const cases: [string, Partial<ImageView>, string[]][] = [
    ["Packages=", { Packages: ["systemd", "vim"] }, ["packages", ...SCRIPT_STEPS]],
    ["WithDocs=", { WithDocs: false }, ["bootstrap", "cleanup", "packages", ...SCRIPT_STEPS]],
    [
      "Repositories=",
      { Repositories: ["contrib"] },
      ["bootstrap", "cleanup", "metadata", "packages", ...SCRIPT_STEPS],
    ],
    [
      "Mirror=",
      { Mirror: "http://mirror.invalid/debian" },
      ["bootstrap", "cleanup", "metadata", "packages", ...SCRIPT_STEPS],
    ],
    ["ImageVersion=", { ImageVersion: "2" }, ["config-files", ...SCRIPT_STEPS]],
    ["Output=", { Output: "other" }, ["publish", ...SCRIPT_STEPS]],
    ["Hostname=", { Hostname: "host" }, ["systemd-setup", ...SCRIPT_STEPS]],
    ["RootPassword=", { RootPassword: ["pw", false] }, ["systemd-setup", ...SCRIPT_STEPS]],
    ["RemoveFiles=", { RemoveFiles: ["/usr/share/man"] }, ["cleanup", ...SCRIPT_STEPS]],
    ["RemovePackages=", { RemovePackages: ["vim"] }, ["cleanup", ...SCRIPT_STEPS]],
    [
      "MachineId=",
      { MachineId: "b92a5e5b0bd54fe2a1c1c3f6a1e0a9c1" },
      ["bootstrap", "cleanup", "config-files", "packages", ...SCRIPT_STEPS],
    ],
    ["Autologin=", { Autologin: true }, ["config-files", ...SCRIPT_STEPS]],
    ["OutputMode=", { OutputMode: 0o600 }, ["publish", ...SCRIPT_STEPS]],
    ["BuildPackages=", { BuildPackages: ["gcc"] }, ["build-overlay", ...SCRIPT_STEPS]],
    [
      "SourceDateEpoch=",
      { SourceDateEpoch: 1700000000 },
      ["cleanup", "publish", "systemd-setup", ...SCRIPT_STEPS],
    ],
    ["Environment=", { Environment: { A: "b" } }, [...SCRIPT_STEPS]],
    // The programs come from the tree instead of the host: every step that runs apt, dpkg or the systemd
    // tools (scripts see the path in $MKOSI_CONFIG).
    [
      "ToolsTree=",
      { ToolsTree: "/nonexistent/tools-tree" },
      ["bootstrap", "metadata", "packages", "systemd-setup", ...SCRIPT_STEPS],
    ],
    ["ToolsTreeCertificates= without a tools tree", { ToolsTreeCertificates: false }, [...SCRIPT_STEPS]],
  ];
  for (const [name, change, expected] of cases) {
    it(`${name} changes exactly the steps that read it`, () => {
      expect(changedSteps(change)).toEqual([...new Set(expected)].sort());
    });
  }

  it("ToolsTreeCertificates= reaches the steps that run the tools tree's programs", () => {
    const before = declared(image({ ToolsTree: "/nonexistent/tools-tree" }));
    const after = declared(image({ ToolsTree: "/nonexistent/tools-tree", ToolsTreeCertificates: false }));
    expect(Object.keys(after).filter((step) => before[step] !== after[step])).toEqual(
      expect.arrayContaining(["bootstrap", "metadata", "packages", "systemd-setup"]),
    );
  });

  it("the random per-invocation Seed= changes no step", () => {
    expect(changedSteps({ Seed: "00000000-0000-4000-8000-000000000000" })).toEqual([]);
  });

  it("the directory mkosi runs from changes no step", () => {
    const here = process.cwd();
    const before = declared(image());
    process.chdir("/");
    try {
      expect(declared(image())).toEqual(before);
    } finally {
      process.chdir(here);
    }
  });

  it("--debug-shell changes no step (it acts only after a failure), though the steps receive it", () => {
    const base = planEnv();
    const terminal = async <T>(_title: string, fn: () => Promise<T>) => fn();
    const on = planEnv({ options: { ...base.options, debugShell: true }, terminal });
    const view = image({ PostOutputScripts: ["mkosi.postoutput"], SyncScripts: ["mkosi.sync"] });
    expect(declared(view, on)).toEqual(declared(view, base));
    const given = planBuild([view], on)
      .nodes.filter((node) => (node.params as { debugShell?: unknown }).debugShell === terminal)
      .map((node) => node.label);
    expect(given).toEqual(expect.arrayContaining(["bootstrap", "prepare", "build", "postinst", "publish"]));
    expect(
      planBuild([view], base).nodes.some((node) => (node.params as { debugShell?: unknown }).debugShell),
    ).toBe(false);
  });

  it("Format= changes the output steps, not the image tree", () => {
    const steps = changedSteps({ Format: "tar", CompressOutput: "zstd", OutputExtension: "tar" });
    for (const tree of ["skeleton", "bootstrap", "packages", "extras", "config-files", "systemd-setup"])
      expect(steps).not.toContain(tree);
    expect(steps).toContain("publish");
  });
});

describe("declared inputs of the output steps", () => {
  const archive = {
    Format: "tar",
    CompressOutput: "zstd",
    OutputExtension: "tar",
    Checksum: true,
    ManifestFormat: ["json"],
  } satisfies Partial<ImageView>;
  const changed = (change: Partial<ImageView>) => {
    const before = declared(image(archive));
    const after = declared(image({ ...archive, ...change }));
    return ["output", "checksum", "manifest"].filter((step) => before[step] !== after[step]);
  };

  it("CompressLevel= reaches only the output", () =>
    expect(changed({ CompressLevel: 19 })).toEqual(["output"]));
  it("Key= reaches only the checksum", () => expect(changed({ Key: "ABCDEF" })).toEqual(["checksum"]));
  it("Environment= reaches the checksum ($GNUPGHOME)", () =>
    expect(changed({ Environment: { GNUPGHOME: "/keys" } })).toEqual(["checksum"]));
  it("ImageVersion= reaches only the manifest", () =>
    expect(changed({ ImageVersion: "3" })).toEqual(["manifest"]));
  it("Output= reaches all three (file names)", () =>
    expect(changed({ Output: "renamed" })).toEqual(["output", "checksum", "manifest"]));
});

describe("declared inputs of split-root (SplitArtifacts=os-release, tar)", () => {
  const inputsOf = (change: Partial<ImageView>) => {
    const plan = planBuild([image({ Format: "cpio", CompressOutput: "zstd", ...change })], planEnv());
    const node = plan.nodes.find((n) => n.label === "split-root");
    return node ? node.task.inputs(node.params) : undefined;
  };

  it("is planned only for the artifacts it makes", () => {
    expect(inputsOf({ SplitArtifacts: ["uki", "kernel", "initrd"] })).toBeUndefined();
    expect(inputsOf({ SplitArtifacts: ["os-release"] })).toBeDefined();
  });
  it("declares the host's tar and compressors when it makes the archive, not for os-release alone", () => {
    const labels = (change: Partial<ImageView>) => (inputsOf(change)?.paths ?? []).map(([label]) => label);
    expect(labels({ SplitArtifacts: ["tar"] })).toEqual(expect.arrayContaining(["host:tar", "host:zstd"]));
    expect(labels({ SplitArtifacts: ["os-release"] })).toEqual([]);
  });
  it("keys on the artifacts it makes, not on the other SplitArtifacts=", () => {
    const key = (artifacts: string[]) => canonical(inputsOf({ SplitArtifacts: artifacts }) as never);
    expect(key(["os-release", "uki"])).toBe(key(["os-release"]));
    expect(key(["os-release", "tar"])).not.toBe(key(["os-release"]));
  });
});

describe("declared inputs of the boot steps: SplitArtifacts=pcrs, ShimBootloader=", () => {
  const tools = image({ Image: "tools", Release: "testing", Packages: ["apt", "systemd"], ToolsTree: null });
  const inputsOf = (step: string, change: Partial<ImageView>) => {
    const disk = image({
      Format: "disk",
      Bootable: "enabled",
      Packages: ["linux-image-amd64", "systemd-boot-efi"],
      ToolsTree: "/config/mkosi.tools",
      ...change,
    });
    const node = planBuild([disk], planEnv(), tools).nodes.find((n) => n.id === `main/${step}`);
    return node ? canonical(node.task.inputs(node.params) as never) : undefined;
  };

  it("the UKI keys on whether pcrs is split and on the certificate then, not on other SplitArtifacts=", () => {
    const cert = { SignExpectedPcrCertificate: "/config/pcr.crt" };
    expect(inputsOf("uki", { SplitArtifacts: ["tar"], ...cert })).toBe(inputsOf("uki", {}));
    const pcrs = inputsOf("uki", { SplitArtifacts: ["pcrs"], ...cert });
    expect(pcrs).not.toBe(inputsOf("uki", {}));
    expect(pcrs).toContain("/config/pcr.crt");
    expect(inputsOf("split", { SplitArtifacts: ["pcrs"], ...cert })).toBeDefined();
  });

  it("the disk's first pass ignores SplitArtifacts=; the last keys on partitions and roothash only", () => {
    for (const artifacts of [["pcrs"], ["uki", "kernel"], ["partitions", "roothash"]])
      expect(inputsOf("repart-root", { SplitArtifacts: artifacts })).toBe(inputsOf("repart-root", {}));
    expect(inputsOf("repart", { SplitArtifacts: ["uki", "kernel"] })).toBe(inputsOf("repart", {}));
    expect(inputsOf("repart", { SplitArtifacts: ["partitions"] })).not.toBe(inputsOf("repart", {}));
    expect(inputsOf("repart", { SplitArtifacts: ["roothash"] })).not.toBe(inputsOf("repart", {}));
  });

  it("shim in front of a UKI: a bootloader node, and the UKI's place keyed; otherwise the UKI ignores it", () => {
    expect(inputsOf("bootloader", { Bootloader: "uki" })).toBeUndefined();
    expect(inputsOf("bootloader", { Bootloader: "uki", ShimBootloader: "signed" })).toBeDefined();
    expect(inputsOf("uki", { Bootloader: "uki", ShimBootloader: "signed" })).not.toBe(
      inputsOf("uki", { Bootloader: "uki" }),
    );
    expect(inputsOf("uki", { ShimBootloader: "signed" })).toBe(inputsOf("uki", {}));
  });

  it("signed boot loaders take pre-built UKIs: no default initrd, no modules initrd, the kernel keyed so", () => {
    for (const Bootloader of ["systemd-boot-signed", "uki-signed", "grub-signed"]) {
      const signed = { Format: "disk", Bootable: "enabled", Bootloader, UnifiedKernelImages: "auto" };
      expect(wantsDefaultInitrd(signed)).toBe(false);
      expect(inputsOf("kernel", signed)).toContain("PrebuiltUkis");
      expect(wantsDefaultInitrd({ ...signed, UnifiedKernelImages: "disabled" })).toBe(true);
      expect(inputsOf("kernel", { ...signed, UnifiedKernelImages: "disabled" })).toBe(inputsOf("kernel", {}));
    }
    // grub on BIOS loads a kernel and initrds: the default initrd stays.
    expect(
      wantsDefaultInitrd({
        Format: "disk",
        Bootable: "enabled",
        Bootloader: "grub-signed",
        BiosBootloader: "grub",
      }),
    ).toBe(true);
    expect(inputsOf("kernel", { Bootloader: "uki" })).toBe(inputsOf("kernel", {}));
  });
});

describe("planner", () => {
  it("plans the execution flow in order, skipping steps without work", () => {
    const plan = planBuild([image({ PrepareScripts: [], BuildScripts: [], FinalizeScripts: [] })], planEnv());
    expect(plan.nodes.map((node) => node.label)).toEqual([
      "metadata",
      "skeleton",
      "bootstrap",
      "packages",
      "extras",
      "postinst",
      "config-files",
      "systemd-setup",
      "cleanup",
      "publish",
    ]);
  });

  it("stops after the build scripts for Format=none", () => {
    const plan = planBuild([image({ Format: "none" })], planEnv());
    expect(plan.nodes.at(-1)?.label).toBe("build");
    expect(plan.images[0]?.publish).toBeUndefined();
  });

  it("plans nothing for Format=none without build scripts", () => {
    expect(planBuild([image({ Format: "none", BuildScripts: [] })], planEnv()).nodes).toEqual([]);
  });

  it("adds output, checksum and manifest nodes for archives", () => {
    const plan = planBuild(
      [image({ Format: "tar", CompressOutput: "zstd", Checksum: true, ManifestFormat: ["json"] })],
      planEnv(),
    );
    const labels = plan.nodes.map((node) => node.label);
    expect(labels.slice(-4)).toEqual(["output", "checksum", "manifest", "publish"]);
  });

  it("feeds a dependency image's build output to the dependant's package installation", () => {
    const base = image({ Image: "base", Format: "none", Output: "base" });
    const main = image({ Dependencies: ["base"] });
    const plan = planBuild([base, main], planEnv());
    const packages = plan.nodes.find((node) => node.id === "main/packages")!;
    expect(Object.values(packages.task.inputs(packages.params).deps ?? {})).toContain("base/build");
  });

  it("labels path inputs relative to the configuration directory", () => {
    const plan = planBuild([image()], planEnv());
    const extras = plan.nodes.find((node) => node.label === "extras")!;
    expect((extras.task.inputs(extras.params).paths ?? []).map(([label]) => label)).toEqual(["mkosi.extra"]);
  });
});

describe("planner: ToolsTree=default", () => {
  const tools = image({ Image: "tools", Release: "testing", Packages: ["apt", "systemd"], ToolsTree: null });
  const main = image({ ToolsTree: "/config/mkosi.tools" });

  it("plans the tools tree first, as its own group, up to its last layer", () => {
    const plan = planBuild([main], planEnv(), tools);
    const groups = [...new Set(plan.nodes.map((node) => node.group))];
    expect(groups).toEqual(["tools", "main"]);
    const toolsSteps = plan.nodes.filter((node) => node.group === "tools").map((node) => node.label);
    expect(toolsSteps).not.toContain("publish");
    expect(toolsSteps).not.toContain("output");
    expect(plan.tools?.top).toBe(`tools/${toolsSteps.at(-1)}`);
  });

  it("the steps that run programs depend on it, the others do not", () => {
    const plan = planBuild([main], planEnv(), tools);
    const top = plan.tools!.top;
    const users = plan.nodes
      .filter((node) => node.group === "main")
      .filter((node) => Object.values(node.task.inputs(node.params).deps ?? {}).includes(top))
      .map((node) => node.label)
      .sort();
    expect(users).toEqual(
      [
        "bootstrap",
        "build",
        "build-overlay",
        "finalize",
        "metadata",
        "packages",
        "postinst",
        "prepare",
        "systemd-setup",
      ].filter((step) => plan.images[0]!.nodes[step]),
    );
    expect(users).toContain("bootstrap");
    expect(users).not.toContain("extras");
  });

  it("the tools tree's own steps use the host's programs", () => {
    const plan = planBuild([main], planEnv(), tools);
    for (const node of plan.nodes.filter((n) => n.group === "tools")) {
      const declared = node.task.inputs(node.params);
      expect(declared.deps?.tools).toBeUndefined();
      expect(
        (declared.paths ?? []).map(([label]) => label).filter((label) => label.startsWith("tools:")),
      ).toEqual([]);
    }
    const bootstrap = plan.nodes.find((node) => node.id === "tools/bootstrap")!;
    expect((bootstrap.task.inputs(bootstrap.params).paths ?? []).map(([label]) => label)).toContain(
      "host:apt-get",
    );
  });

  it("the systemd setup step declares every program it runs", () => {
    const plan = planBuild([main], planEnv());
    const setup = plan.nodes.find((node) => node.id === "main/systemd-setup")!;
    // This block's image has a tools tree: the programs are the tree's.
    const labels = (setup.task.inputs(setup.params).paths ?? []).map(([label]) => label);
    for (const program of [
      "systemd-sysusers",
      "systemd-tmpfiles",
      "systemctl",
      "depmod",
      "systemd-firstboot",
    ])
      expect(labels).toContain(`tools:${program}`);
  });
});

describe("the package manager's programs per distribution", () => {
  const labels = (view: ImageView, step: string): string[] => {
    const node = planBuild([view], planEnv()).nodes.find((n) => n.id === `main/${step}`);
    if (!node) return [];
    return (node.task.inputs(node.params).paths ?? [])
      .map(([label]) => label)
      .filter((label) => label.startsWith("host:"));
  };
  const cases: [string, Record<string, string[]>][] = [
    [
      "debian",
      { metadata: ["host:apt-get"], packages: ["host:apt-get", "host:dpkg"], cleanup: ["host:dpkg-query"] },
    ],
    [
      "fedora",
      {
        metadata: ["host:dnf"],
        packages: ["host:dnf", "host:rpm"],
        cleanup: ["host:rpm"],
      },
    ],
    ["opensuse", { metadata: ["host:zypper"], packages: ["host:rpm", "host:zypper"] }],
    ["arch", { metadata: ["host:pacman"], packages: ["host:pacman"], cleanup: [] }],
  ];
  for (const [distribution, expected] of cases) {
    it(`${distribution}: the steps declare the programs its package manager runs`, () => {
      const view = image({ Distribution: distribution });
      for (const [step, programs] of Object.entries(expected))
        expect(labels(view, step).sort()).toEqual(programs);
    });
  }

  it("custom: no package manager, no metadata or bootstrap node", () => {
    const ids = planBuild([image({ Distribution: "custom", Packages: [] })], planEnv()).nodes.map(
      (n) => n.id,
    );
    expect(ids).not.toContain("main/metadata");
    expect(ids).not.toContain("main/bootstrap");
  });

  it("with RemovePackages= the cleanup step declares rpm once (listing and removal both run it)", () => {
    expect(labels(image({ Distribution: "fedora", RemovePackages: ["vim"] }), "cleanup").sort()).toEqual([
      "host:dnf",
      "host:rpm",
    ]);
  });

  it("PackageDirectories= adds the program that indexes the local repository", () => {
    const view = image({ Distribution: "fedora", PackageDirectories: ["/srv/packages"] });
    expect(labels(view, "packages")).toContain("host:createrepo_c");
    expect(labels(image({ Distribution: "fedora" }), "packages")).not.toContain("host:createrepo_c");
  });
});
