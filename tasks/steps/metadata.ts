// Repository metadata sync (apt-get update) into its own artifact, shared by every image with the same
// repositories. When it reruns is decided by CacheOnly= (see tasks/build.ts): a no-op rebuild never
// refreshes it.

import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { DistroConfig } from "../../distros/index.js";
import type { TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import type { ConfigTree } from "../image.js";
import { DISTRO_SETTINGS, distroConfig, packageManagerContext, repositoryInputs } from "../packaging.js";
import { sandboxLinkDigests, sandboxTreeInputs } from "../sandboxtrees.js";
import type { Step } from "../step.js";
import { type ToolsTree, toolInputs, withToolInputs, withToolsTree } from "../toolstree.js";

interface Params {
  config: DistroConfig;
  sandboxTrees: ConfigTree[];
  /** Digests of files that symlinks in the sandbox trees point to (read through by apt). */
  sandboxLinks: Record<string, string>;
  base: string;
  packageCacheDir: string;
  tools: ToolsTree | null;
}

const task: TaskDefinition<Params> = {
  name: "metadata",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) =>
    withToolInputs(
      withToolInputs(
        { values: repositoryInputs(p.config) },
        sandboxTreeInputs(p.base, p.sandboxTrees, p.sandboxLinks),
      ),
      toolInputs(p.tools, ["apt-get"]),
    ),
  async run(ctx, p) {
    const distribution = (await import("../../distros/index.js")).getDistribution(p.config.Distribution);
    await withToolsTree(ctx, p.tools, (tools) =>
      distribution.syncMetadata(
        packageManagerContext(ctx, p.config, {
          metadataDir: ctx.out,
          packageCacheDir: p.packageCacheDir,
          sandboxTrees: p.sandboxTrees,
          tools,
        }),
      ),
    );
    // apt's binary source cache records when it was generated: keep the artifact (and so the digest
    // downstream keys depend on) a function of the repositories' content only.
    await rm(join(ctx.out, "cache", "srcpkgcache.bin"), { force: true });
    return undefined;
  },
};

export const metadata: Step<Params> = {
  name: "metadata",
  task,
  reads: [...DISTRO_SETTINGS, "SandboxTrees"],
  unkeyed: {
    WithDocs: "repository metadata does not depend on it (the install steps key on it)",
    WithRecommends: "repository metadata does not depend on it (the install steps key on it)",
    Bootable: "repository metadata does not depend on it (the install steps key on it)",
  },
  layer: false,
  wanted: (image) => image.Distribution !== "custom",
  params: ({ image, env, tools }) => ({
    config: distroConfig(image),
    sandboxTrees: image.SandboxTrees,
    sandboxLinks: sandboxLinkDigests(env, image.SandboxTrees),
    base: env.configDir,
    packageCacheDir: env.packageCacheDir,
    tools,
  }),
};
