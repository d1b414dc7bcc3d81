// Remove packages (RemovePackages=), clean package manager metadata (CleanPackageMetadata=) and remove
// files (RemoveFiles=). Records the installed packages afterwards, for manifests.

import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type DistroConfig, packageManagerTools } from "../../distros/index.js";
import { loadInstaller } from "../../distros/installer.js";
import type { Json, NodeId, TaskContext, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import type { TerminalHandoff } from "../../sandbox/run.js";
import { debugShellOf } from "../env.js";
import { hostTools } from "../hosttools.js";
import type { ConfigTree, Feature } from "../image.js";
import { withLayer } from "../layers.js";
import {
  DISTRO_SETTINGS,
  DISTRO_UNKEYED,
  distroConfig,
  distroConfigJson,
  packageCacheResource,
  packageManagerContext,
} from "../packaging.js";
import { sandboxLinkDigests, sandboxTreeInputs } from "../sandboxtrees.js";
import { imageBelow, type Step } from "../step.js";
import { type ToolsTree, toolInputs, withToolInputs, withToolsTree } from "../toolstree.js";
import { sandboxTreeDirs } from "../trees.js";
import { removeVolatileFiles } from "../volatile.js";

interface Params {
  config: DistroConfig;
  removePackages: string[];
  removeFiles: string[];
  cleanPackageMetadata: Feature;
  format: string;
  machineId: string | null;
  sourceDateEpoch: number | null;
  sandboxTrees: ConfigTree[];
  /** Digests of what symlinks in the sandbox trees lead to (apt reads through them). */
  sandboxLinks: Record<string, string>;
  /** The configuration directory: path labels are relative to it. */
  base: string;
  packageCacheDir: string;
  metadata: NodeId | undefined;
  prev: NodeId;
  /** --debug-shell (not an input: it only acts after a failure). */
  debugShell?: TerminalHandoff;
  /** The tools tree apt runs from to remove packages (dpkg-query, find and rm run on the host). */
  tools: ToolsTree | null;
}

async function removeMachineState(root: string, p: Params): Promise<void> {
  await removeVolatileFiles(root);
  // An image without MachineId= gets a new machine id on first boot (systemd's "uninitialized").
  if (!p.machineId && (await stat(join(root, "etc")).catch(() => undefined)))
    await writeFile(join(root, "etc/machine-id"), "uninitialized\n");
}

/** Remove globs relative to the image root, with bash's globbing (`**` included). */
async function removeFiles(ctx: TaskContext, root: string, patterns: string[]): Promise<void> {
  if (patterns.length === 0) return;
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template
  const script = 'cd "$1" && shift && shopt -s globstar nullglob dotglob && for p; do rm -rf -- ${p#/}; done';
  await ctx.exec("bash", ["-c", script, "bash", root, ...patterns]);
}

const task: TaskDefinition<Params> = {
  name: "cleanup",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => {
    const tools = packageManagerTools(p.config.Distribution);
    const removes = p.removePackages.length > 0;
    const own = {
      values: {
        ...distroConfigJson(p.config),
        RemovePackages: p.removePackages,
        RemoveFiles: p.removeFiles,
        CleanPackageMetadata: p.cleanPackageMetadata,
        Format: p.format,
        MachineId: p.machineId,
        SourceDateEpoch: p.sourceDateEpoch,
      },
      // The package manager's query tool lists the installed packages (dpkg-query, rpm); find and touch
      // are coreutils-stable. A host tool that removal runs as well (rpm) is declared once, below.
      paths: hostTools(tools.query.filter((t) => !(removes && !p.tools && tools.install.includes(t)))),
      deps: { image: p.prev, ...(p.metadata ? { metadata: p.metadata } : {}) },
    };
    // Removing packages runs the package manager (from the tools tree when there is one) with the
    // sandbox trees.
    if (!removes) return own;
    return withToolInputs(
      withToolInputs(own, sandboxTreeInputs(p.base, p.sandboxTrees, p.sandboxLinks)),
      toolInputs(p.tools, tools.install),
    );
  },
  // Only removing packages runs the package manager.
  resources: (p) => (p.removePackages.length > 0 ? [packageCacheResource(p.packageCacheDir)] : []),
  async run(ctx, p) {
    return withLayer(ctx, ctx.deps.image, async ({ root }) => {
      const distribution = p.metadata ? await loadInstaller(p.config.Distribution) : undefined;
      if (distribution && p.removePackages.length > 0) {
        const sandboxTrees = await sandboxTreeDirs(ctx, p.sandboxTrees);
        await withToolsTree(ctx, p.tools, (tools) => {
          const pm = packageManagerContext(ctx, p.config, {
            metadataDir: ctx.deps.metadata!.dir,
            packageCacheDir: p.packageCacheDir,
            sandboxTrees,
            debugShell: p.debugShell,
            tools,
          });
          return distribution.remove(pm, root, p.removePackages);
        });
      }
      const installed = distribution ? await distribution.listInstalled(root) : [];
      // auto keeps the metadata where the format says so (directory and tar images stay usable with apt),
      // like mkosi.
      const { formatOf } = await import("../../formats/registry.js");
      const clean =
        p.cleanPackageMetadata === "auto" && formatOf(p.format).keepsPackageMetadata
          ? "no"
          : p.cleanPackageMetadata === "enabled"
            ? "yes"
            : p.cleanPackageMetadata === "disabled"
              ? "no"
              : "auto";
      if (distribution && clean !== "no") await distribution.cleanMetadata(root, clean);
      await removeMachineState(root, p);
      await removeFiles(ctx, root, p.removeFiles);
      // A directory's mtime records when its last entry was unpacked, which depends on the order in
      // which packages were extracted; with SourceDateEpoch= every directory gets the epoch.
      if (p.sourceDateEpoch !== null)
        await ctx.exec("find", [
          root,
          "-xdev",
          "-type",
          "d",
          "-exec",
          "touch",
          "-h",
          "-d",
          `@${p.sourceDateEpoch}`,
          "{}",
          "+",
        ]);
      return { packages: installed as unknown as Json };
    });
  },
};

export const cleanup: Step<Params> = {
  name: "cleanup",
  task,
  reads: [
    ...DISTRO_SETTINGS,
    "RemovePackages",
    "RemoveFiles",
    "CleanPackageMetadata",
    "Format",
    "MachineId",
    "SourceDateEpoch",
    "SandboxTrees",
  ],
  unkeyed: DISTRO_UNKEYED,
  layer: true,
  wanted: () => true,
  params: (context) => {
    const { image, env, nodes } = context;
    const prev = imageBelow(context, "cleanup");
    return {
      config: distroConfig(image),
      removePackages: image.RemovePackages,
      removeFiles: image.RemoveFiles,
      cleanPackageMetadata: image.CleanPackageMetadata,
      format: image.Format,
      machineId: image.MachineId,
      sourceDateEpoch: image.SourceDateEpoch,
      // Only apt (removing packages) reads the sandbox trees.
      sandboxTrees: image.RemovePackages.length > 0 ? image.SandboxTrees : [],
      sandboxLinks: image.RemovePackages.length > 0 ? sandboxLinkDigests(env, image.SandboxTrees) : {},
      base: env.configDir,
      packageCacheDir: env.packageCacheDir,
      metadata: nodes.metadata,
      prev,
      debugShell: debugShellOf(env),
      tools: context.tools,
    };
  },
};
