// What the build and graph commands share: the planning environment derived from the resolved images and
// the command line, and an engine opened on the right cache directory.
import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { defaultSeed } from "../../config/settings/distribution-output.js";
import type { Engine, PlannedNode, RemoteCacheOptions } from "../../engine/api.js";
import { unmountStaleMounts } from "../../engine/fsutil.js";
import { openEngine } from "../../engine/index.js";
import { defaultCacheDir, defaultPackageCacheDir, type PlanEnv } from "../../tasks/env.js";
import type { ImageView } from "../../tasks/image.js";
import type { BuildPlan } from "../../tasks/plan.js";

export interface CommandInput {
  /** Images in build order, main last (config/'s ResolvedConfig.images). */
  images: ImageView[];
  /** The default tools tree's image (ToolsTree=default; config/'s ResolvedConfig.tools), else null. */
  tools?: ImageView | null;
  /** The default initrd's configuration of each image that boots with one, by image name. */
  initrds?: ReadonlyMap<string, ImageView>;
  /** The -C directory (where mkosi.conf lives). */
  directory: string;
  force: number;
  rerunBuildScripts: boolean;
  wipeBuildDir: boolean;
  cmdline: string[];
  debug: boolean;
  /** --debug-shell: a failing command in the image opens a shell there. */
  debugShell: boolean;
  /** --debug-workspace: keep a failed step's workspace. */
  debugWorkspace: boolean;
  json: boolean;
  /** $MKOSI_CONFIG for one image. */
  configJson(image: ImageView): string;
  /** JSON names of the secret settings. */
  secretSettings: readonly string[];
  /** The remote cache (--cache-remote, --cache-push) and the secret key shared with it. */
  remote?: RemoteCacheOptions;
  secretKey?: Buffer;
}

export function planEnv(input: CommandInput): PlanEnv {
  const main = input.images[input.images.length - 1];
  if (!main) throw new Error("no image to build");
  return {
    cacheDir: process.env.MKOSI_CACHE_DIR ? resolve(process.env.MKOSI_CACHE_DIR) : defaultCacheDir(main),
    packageCacheDir: defaultPackageCacheDir(main),
    configDir: input.directory,
    options: {
      force: input.force,
      rerunBuildScripts: input.rerunBuildScripts,
      wipeBuildDir: input.wipeBuildDir,
      cmdline: input.cmdline,
      debug: input.debug,
      debugShell: input.debugShell,
    },
    configJson: input.configJson,
    randomSeed: defaultSeed(),
    secretSettings: input.secretSettings,
    uid: Number(process.env.SUDO_UID ?? process.getuid?.() ?? 0),
    gid: Number(process.env.SUDO_GID ?? process.getgid?.() ?? 0),
  };
}

export async function openCache(
  env: PlanEnv,
  options: { keepFailedWorkspaces?: boolean; remote?: RemoteCacheOptions; secretKey?: Buffer } = {},
): Promise<Engine> {
  await mkdir(env.packageCacheDir, { recursive: true });
  // Mounts of builds killed in this mount namespace (where mkosi got none of its own).
  unmountStaleMounts(env.cacheDir);
  return openEngine({
    cacheDir: env.cacheDir,
    keepFailedWorkspaces: options.keepFailedWorkspaces,
    remote: options.remote,
    secretKey: options.secretKey,
  });
}

export function plannedNodes(plan: BuildPlan): PlannedNode[] {
  return plan.nodes.map((node) => {
    const declared = node.task.inputs(node.params);
    return {
      id: node.id,
      group: node.group,
      label: node.label ?? node.task.name,
      task: node.task.name,
      deps: Object.values(declared.deps ?? {}),
    };
  });
}
