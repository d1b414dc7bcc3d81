// Shared plumbing for steps that drive the distribution's package manager.

import type { DistroConfig, PackageManagerContext } from "../distros/index.js";
import type { Json, TaskContext } from "../engine/api.js";
import type { TerminalHandoff, ToolsTreeMount } from "../sandbox/run.js";
import type { ConfigTree, ImageView } from "./image.js";
import type { SettingName } from "./settings-view.js";

/** The settings distroConfig() reads (for Step.reads). */
export const DISTRO_SETTINGS = [
  "Distribution",
  "Release",
  "Architecture",
  "Mirror",
  "LocalMirror",
  "RepositoryKeyCheck",
  "Repositories",
  "WithDocs",
  "WithRecommends",
  "Bootable",
  "ProxyUrl",
] as const satisfies readonly SettingName[];

/** The configuration slice package managers read: also the declared inputs of those steps. */
export function distroConfig(image: ImageView): DistroConfig {
  return {
    Distribution: image.Distribution,
    Release: image.Release,
    Architecture: image.Architecture,
    Mirror: image.Mirror,
    LocalMirror: image.LocalMirror,
    RepositoryKeyCheck: image.RepositoryKeyCheck,
    Repositories: image.Repositories,
    WithDocs: image.WithDocs,
    WithRecommends: image.WithRecommends,
    Bootable: image.Bootable,
    ProxyUrl: image.ProxyUrl,
  };
}

export function distroConfigJson(config: DistroConfig): Record<string, Json> {
  return JSON.parse(JSON.stringify(config)) as Record<string, Json>;
}

/** What decides the repositories' content: the declared inputs of the metadata sync. */
export function repositoryInputs(config: DistroConfig): Record<string, Json> {
  return {
    Distribution: config.Distribution,
    Release: config.Release,
    Architecture: config.Architecture,
    Mirror: config.Mirror,
    LocalMirror: config.LocalMirror,
    RepositoryKeyCheck: config.RepositoryKeyCheck,
    Repositories: config.Repositories,
    ProxyUrl: config.ProxyUrl ?? null,
  };
}

/** Resource name that serializes users of one package download cache. */
export function packageCacheResource(dir: string): string {
  return `package-cache:${dir}`;
}

export function packageManagerContext(
  ctx: TaskContext,
  config: DistroConfig,
  options: {
    metadataDir: string;
    packageCacheDir: string;
    sandboxTrees: ConfigTree[];
    localRepository?: string;
    debugShell?: TerminalHandoff;
    /** The tools tree the package manager runs from (see toolstree.ts), if any. */
    tools?: ToolsTreeMount;
  },
): PackageManagerContext {
  return {
    config,
    workDir: ctx.tmp,
    metadataDir: options.metadataDir,
    packageCacheDir: options.packageCacheDir,
    sandboxTrees: options.sandboxTrees,
    localRepository: options.localRepository,
    signal: ctx.signal,
    debugShell: options.debugShell,
    tools: options.tools,
    // Environment= is for scripts; package managers do not see it, so changing it does not reinstall.
    onOutput: (line, stream) => ctx.log(line, stream),
  };
}
