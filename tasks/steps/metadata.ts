// Repository metadata sync (apt-get update, dnf makecache, ...) into its own artifact, shared by every image with the same
// repositories. When it reruns is decided by CacheOnly= (see tasks/build.ts): a no-op rebuild never
// refreshes it.

import { type DistroConfig, hasPackageManager, packageManagerTools } from "../../distros/index.js";
import { loadInstaller } from "../../distros/installer.js";
import type { TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import type { ConfigTree } from "../image.js";
import {
  DISTRO_SETTINGS,
  DISTRO_UNKEYED,
  distroConfig,
  packageManagerContext,
  repositoryInputs,
} from "../packaging.js";
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
      toolInputs(p.tools, packageManagerTools(p.config.Distribution).sync),
    ),
  async run(ctx, p) {
    const installer = await loadInstaller(p.config.Distribution);
    await withToolsTree(ctx, p.tools, (tools) =>
      installer.syncMetadata(
        packageManagerContext(ctx, p.config, {
          metadataDir: ctx.out,
          packageCacheDir: p.packageCacheDir,
          sandboxTrees: p.sandboxTrees,
          tools,
        }),
      ),
    );
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
    Locale: "repository metadata does not depend on it (the install steps key on it)",
    ...DISTRO_UNKEYED,
  },
  layer: false,
  wanted: (image) => hasPackageManager(image.Distribution),
  params: ({ image, env, tools }) => ({
    config: distroConfig(image),
    sandboxTrees: image.SandboxTrees,
    sandboxLinks: sandboxLinkDigests(env, image.SandboxTrees),
    base: env.configDir,
    packageCacheDir: env.packageCacheDir,
    tools,
  }),
};
