// Package installation steps: bootstrap (the distribution's base system), packages (Packages=, with
// PackageDirectories= and dependency images' packages as a local repository) and volatile packages
// (VolatilePackages=, installed after the build scripts). Bootstrap is its own node so that adding a
// package does not reinstall the base system.

import { join } from "node:path";
import { type DistroConfig, hasPackageManager, packageManagerTools } from "../../distros/index.js";
import { loadInstaller } from "../../distros/installer.js";
import type { DeclaredInputs, NodeId, TaskContext, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import type { TerminalHandoff } from "../../sandbox/run.js";
import { debugShellOf } from "../env.js";
import { hostTools } from "../hosttools.js";
import type { ConfigTree, ImageView } from "../image.js";
import { withLayer } from "../layers.js";
import {
  DISTRO_SETTINGS,
  DISTRO_UNKEYED,
  distroConfig,
  distroConfigJson,
  packageCacheResource,
  packageManagerContext,
} from "../packaging.js";
import { sandboxLinkDigests } from "../sandboxtrees.js";
import type { Step, StepPlanContext } from "../step.js";
import { type ToolsTree, toolInputs, withToolInputs, withToolsTree } from "../toolstree.js";
import { pathInputs } from "../trees.js";
import { prepareBaseSystem, removeVolatileFiles, resetMachineId } from "../volatile.js";

interface Params {
  config: DistroConfig;
  /** MachineId=: written before Packages= are installed, as mkosi does, and put back after every install
   * (package scripts may generate a random one). */
  machineId: string | null;
  /** The packages to install and the setting that lists them (Packages=, VolatilePackages=). */
  packages: string[];
  packagesSetting: "Packages" | "VolatilePackages";
  packageDirectories: string[];
  sandboxTrees: ConfigTree[];
  /** Digests of files that symlinks in the sandbox trees point to (read through by apt). */
  sandboxLinks: Record<string, string>;
  base: string;
  packageCacheDir: string;
  metadata: NodeId;
  prev: NodeId | undefined;
  /** CacheOnly=always: install from the package cache only (no network); not part of the key, since a
   * successful install is the same either way. */
  offline: boolean;
  /** build nodes of Dependencies= images: their $PACKAGEDIR output joins the local repository. */
  dependencyBuilds: NodeId[];
  /** --debug-shell (not an input: it only acts after a failure). */
  debugShell?: TerminalHandoff;
  tools: ToolsTree | null;
}

function inputs(p: Params): DeclaredInputs {
  const tools = packageManagerTools(p.config.Distribution);
  const paths = [
    ...pathInputs(p.base, [
      ...p.sandboxTrees.map((tree) => ({ setting: "SandboxTrees", path: tree.Source, target: tree.Target })),
      ...p.packageDirectories.map((dir) => ({ setting: "PackageDirectories", path: dir })),
    ]),
    // A local repository is indexed on the host (dpkg-deb, createrepo_c, repo-add).
    ...(p.packageDirectories.length > 0 || p.dependencyBuilds.length > 0 ? hostTools(tools.index) : []),
  ];
  const deps: Record<string, NodeId> = { metadata: p.metadata };
  if (p.prev) deps.image = p.prev;
  p.dependencyBuilds.forEach((id, i) => {
    deps[`packages-of:${i}`] = id;
  });
  return withToolInputs(
    {
      values: {
        ...distroConfigJson(p.config),
        ...(p.packages.length > 0 ? { [p.packagesSetting]: p.packages } : {}),
        MachineId: p.machineId,
        SandboxTreeLinks: p.sandboxLinks,
      },
      paths,
      deps,
    },
    toolInputs(p.tools, tools.install),
  );
}

async function localRepository(ctx: TaskContext, p: Params): Promise<string | undefined> {
  const dirs = [...p.packageDirectories];
  for (const [label, dep] of Object.entries(ctx.deps)) {
    if (label.startsWith("packages-of:")) dirs.push(join(dep.dir, "packages"));
  }
  if (dirs.length === 0) return undefined;
  const installer = await loadInstaller(p.config.Distribution);
  const repo = await installer.createLocalRepository(dirs, join(ctx.tmp, "repository"), ctx.signal);
  return repo?.dir;
}

function installTask(name: string, bootstrap: boolean): TaskDefinition<Params> {
  return {
    name,
    implementation: implementationDigest(import.meta.url),
    inputs,
    resources: (p) => [packageCacheResource(p.packageCacheDir)],
    async run(ctx, p) {
      const installer = await loadInstaller(p.config.Distribution);
      const metadataDir = ctx.deps.metadata!.dir;
      const repository = await localRepository(ctx, p);
      return withToolsTree(ctx, p.tools, (tools) => {
        const pm = packageManagerContext(ctx, p.config, {
          metadataDir,
          packageCacheDir: p.packageCacheDir,
          sandboxTrees: p.sandboxTrees,
          localRepository: repository,
          debugShell: p.debugShell,
          tools,
        });
        return withLayer(ctx, ctx.deps.image, async ({ root }) => {
          const network = !p.offline;
          if (bootstrap) {
            await installer.bootstrap(pm, root, { extraPackages: p.packages, network });
            await prepareBaseSystem(root, p.machineId);
          } else if (p.packages.length > 0) await installer.install(pm, root, p.packages, { network });
          await resetMachineId(root, p.machineId);
          await removeVolatileFiles(root);
          return undefined;
        });
      });
    },
  };
}

function params(
  { image, env, prev, nodes, dependencyBuilds, tools }: StepPlanContext,
  packagesSetting: Params["packagesSetting"],
  packages: string[],
  packageDirectories: string[],
): Params {
  if (!nodes.metadata) throw new Error(`${image.Image}: package installation needs repository metadata`);
  return {
    config: distroConfig(image),
    machineId: image.MachineId,
    packages,
    packagesSetting,
    packageDirectories,
    sandboxTrees: image.SandboxTrees,
    sandboxLinks: sandboxLinkDigests(env, image.SandboxTrees),
    base: env.configDir,
    packageCacheDir: env.packageCacheDir,
    metadata: nodes.metadata,
    prev,
    offline: image.CacheOnly === "always",
    dependencyBuilds,
    debugShell: debugShellOf(env),
    tools,
  };
}

/** What the install steps read: the package manager's slice, their package lists and directories, the
 * sandbox trees, and CacheOnly= (which only decides whether the network may be used). */
const reads = [
  ...DISTRO_SETTINGS,
  "Packages",
  "PackageDirectories",
  "VolatilePackages",
  "VolatilePackageDirectories",
  "SandboxTrees",
  "CacheOnly",
  "MachineId",
] as const;
const unkeyed = {
  CacheOnly: "from the cache or the network, a successful install installs the same packages",
  ...DISTRO_UNKEYED,
};

const bootstraps = (image: ImageView) =>
  hasPackageManager(image.Distribution) && image.BaseTrees.length === 0;

export const bootstrap: Step<Params> = {
  name: "bootstrap",
  task: installTask("bootstrap", true),
  reads,
  unkeyed,
  layer: true,
  wanted: bootstraps,
  params: (context) => params(context, "Packages", [], []),
};

export const packages: Step<Params> = {
  name: "packages",
  task: installTask("packages", false),
  reads,
  unkeyed,
  layer: true,
  wanted: (image) =>
    hasPackageManager(image.Distribution) &&
    (image.Packages.length > 0 || image.PackageDirectories.length > 0 || image.Dependencies.length > 0),
  params: (context) => params(context, "Packages", context.image.Packages, context.image.PackageDirectories),
};

export const volatilePackages: Step<Params> = {
  name: "volatile-packages",
  task: installTask("volatile-packages", false),
  reads,
  unkeyed,
  layer: true,
  wanted: (image) => hasPackageManager(image.Distribution) && image.VolatilePackages.length > 0,
  params: (context) => {
    const p = params(context, "VolatilePackages", context.image.VolatilePackages, [
      ...context.image.PackageDirectories,
      ...context.image.VolatilePackageDirectories,
    ]);
    // Packages the image's own build scripts produced are installable too.
    if (context.nodes.build) p.dependencyBuilds = [...p.dependencyBuilds, context.nodes.build];
    return p;
  },
};
