// Shared plumbing for steps that drive the distribution's package manager.

import { type DistroConfig, type PackageManagerContext, packageManagerTools } from "../distros/index.js";
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
  // Read only for the package managers that use them (distros/pm/tools.ts, `settings`).
  "RepositoryKeyFetch",
  "Locale",
  "ProxyPeerCertificate",
  "ProxyClientCertificate",
  "ProxyClientKey",
  "Environment",
] as const satisfies readonly SettingName[];

/** Settings of DISTRO_SETTINGS whose key entry is not the setting's whole value, with the reason (for
 * Step.unkeyed of the steps that read the slice). */
export const DISTRO_UNKEYED = {
  Environment: "only EPEL_MIRROR (the EPEL mirror of RHEL-like distributions) is read, and it is in the key",
} as const;

/** Environment= variables repository definitions read (the EPEL mirror of RHEL-like distributions). */
const REPOSITORY_ENVIRONMENT = ["EPEL_MIRROR"];

/** The configuration slice package managers read: also the declared inputs of those steps. Beyond the
 * settings every package manager reads, those the image's package manager reads (pm/tools.ts). */
export function distroConfig(image: ImageView): DistroConfig {
  const config: DistroConfig = {
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
  for (const setting of packageManagerTools(image.Distribution).settings) {
    if (setting === "Environment") {
      const env = Object.entries(image.Environment ?? {}).filter(([k]) => REPOSITORY_ENVIRONMENT.includes(k));
      if (env.length > 0) config.Environment = Object.fromEntries(env);
    } else Object.assign(config, { [setting]: (image as Record<string, unknown>)[setting] ?? null });
  }
  return config;
}

export function distroConfigJson(config: DistroConfig): Record<string, Json> {
  return JSON.parse(JSON.stringify(config)) as Record<string, Json>;
}

/** Settings of the slice that decide the repositories (not how packages are installed). */
const REPOSITORY_SETTINGS = [
  "RepositoryKeyFetch",
  "ProxyPeerCertificate",
  "ProxyClientCertificate",
  "ProxyClientKey",
  "Environment",
] as const;

/** What decides the repositories' content: the declared inputs of the metadata sync. */
export function repositoryInputs(config: DistroConfig): Record<string, Json> {
  const extra: Record<string, Json> = {};
  for (const setting of REPOSITORY_SETTINGS)
    if (config[setting] !== undefined) extra[setting] = config[setting] as Json;
  return {
    ...extra,
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
