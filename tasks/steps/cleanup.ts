// Remove packages (RemovePackages=), clean package manager metadata (CleanPackageMetadata=) and remove
// files (RemoveFiles=). Records the installed packages afterwards, for manifests.

import { type DistroConfig, getDistribution } from "../../distros/index.js";
import type { Json, NodeId, TaskContext, TaskDefinition } from "../../engine/api.js";
import type { ConfigTree, Feature } from "../image.js";
import { withLayer } from "../layers.js";
import { distroConfig, distroConfigJson, packageCacheResource, packageManagerContext } from "../packaging.js";
import type { Step } from "../step.js";

interface Params {
  config: DistroConfig;
  removePackages: string[];
  removeFiles: string[];
  cleanPackageMetadata: Feature;
  format: string;
  sandboxTrees: ConfigTree[];
  packageCacheDir: string;
  metadata: NodeId | undefined;
  prev: NodeId;
}

/** Remove globs relative to the image root, with bash's globbing (`**` included). */
async function removeFiles(ctx: TaskContext, root: string, patterns: string[]): Promise<void> {
  if (patterns.length === 0) return;
  const script = 'cd "$1" && shift && shopt -s globstar nullglob dotglob && for p; do rm -rf -- ${p#/}; done';
  await ctx.exec("bash", ["-c", script, "bash", root, ...patterns]);
}

const task: TaskDefinition<Params> = {
  name: "cleanup",
  version: 1,
  inputs: (p) => ({
    values: {
      ...distroConfigJson(p.config),
      RemovePackages: p.removePackages,
      RemoveFiles: p.removeFiles,
      CleanPackageMetadata: p.cleanPackageMetadata,
      Format: p.format,
    },
    deps: { image: p.prev, ...(p.metadata ? { metadata: p.metadata } : {}) },
  }),
  resources: (p) => [packageCacheResource(p.packageCacheDir)],
  async run(ctx, p) {
    return withLayer(ctx, ctx.deps.image, async ({ root }) => {
      const distribution = p.metadata ? getDistribution(p.config.Distribution) : undefined;
      if (distribution && p.removePackages.length > 0) {
        const pm = packageManagerContext(ctx, p.config, {
          metadataDir: ctx.deps.metadata!.dir,
          packageCacheDir: p.packageCacheDir,
          sandboxTrees: p.sandboxTrees,
        });
        await distribution.remove(pm, root, p.removePackages);
      }
      const installed = distribution ? await distribution.listInstalled(root) : [];
      // auto keeps the metadata for directory and tar images (they stay usable with apt), like mkosi.
      const clean =
        p.cleanPackageMetadata === "auto" && (p.format === "directory" || p.format === "tar")
          ? "no"
          : p.cleanPackageMetadata === "enabled"
            ? "yes"
            : p.cleanPackageMetadata === "disabled"
              ? "no"
              : "auto";
      if (distribution && clean !== "no") await distribution.cleanMetadata(root, clean);
      await removeFiles(ctx, root, p.removeFiles);
      return { packages: installed as unknown as Json };
    });
  },
};

export const cleanup: Step<Params> = {
  name: "cleanup",
  task,
  layer: true,
  wanted: () => true,
  params: ({ image, env, prev, nodes }) => {
    if (!prev) throw new Error("cleanup needs an image below it");
    return {
      config: distroConfig(image),
      removePackages: image.RemovePackages,
      removeFiles: image.RemoveFiles,
      cleanPackageMetadata: image.CleanPackageMetadata,
      format: image.Format,
      sandboxTrees: image.SandboxTrees,
      packageCacheDir: env.packageCacheDir,
      metadata: nodes.metadata,
      prev,
    };
  },
};
