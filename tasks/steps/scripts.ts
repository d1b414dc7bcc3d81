// Steps that run user scripts on the image: prepare (final), the build overlay (BuildPackages= and
// prepare with "build"), build scripts, post-installation and finalize scripts.

import { createHash } from "node:crypto";
import { lstat, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type DistroConfig,
  packageManagerTools,
  type ScriptPackageManagerSupport,
} from "../../distros/index.js";
import { loadInstaller } from "../../distros/installer.js";
import type { DeclaredInputs, NodeId, TaskContext, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import type { TerminalHandoff, ToolsTreeMount } from "../../sandbox/run.js";
import { runScripts, type ScriptKind } from "../../sandbox/scripts.js";
import { debugShellOf, type PlanEnv } from "../env.js";
import type { ConfigTree, ImageView } from "../image.js";
import { stackDirs, stackKeys, withLayer } from "../layers.js";
import { distroConfig, distroConfigJson, packageCacheResource, packageManagerContext } from "../packaging.js";
import { sandboxLinkDigests, sandboxTreeInputs } from "../sandboxtrees.js";
import { declareScriptInputs, type ScriptInputs, scriptInputs, scriptRunBase } from "../scriptinputs.js";
import type { Step } from "../step.js";
import { type ToolsTree, toolInputs, withToolInputs, withToolsTree } from "../toolstree.js";
import { sandboxTreeDirs } from "../trees.js";

interface Params {
  scripts: ScriptInputs;
  image: ImageView;
  config: DistroConfig;
  sandboxTrees: ConfigTree[];
  /** Digests of what symlinks in the sandbox trees lead to (the scripts' apt reads through them). */
  sandboxLinks: Record<string, string>;
  packageCacheDir: string;
  uid: number;
  gid: number;
  prev: NodeId;
  metadata: NodeId | undefined;
  /** build-overlay: BuildPackages=. */
  buildPackages?: string[];
  /** build: arguments after `--`, and the build directory. */
  cmdline?: string[];
  buildDir?: string | null;
  /** build: record the build directory's state in the output (scripts read it, see buildDirRead). */
  recordBuildDir?: boolean;
  /** postinst, finalize: the build steps (this image's and its dependencies') whose outputs record the
   * state of the build directory they see as $BUILDDIR. */
  buildDirWriters?: NodeId[];
  /** --debug-shell (not an input: it only acts after a failure). */
  debugShell?: TerminalHandoff;
  tools: ToolsTree | null;
}

function inputs(p: Params): DeclaredInputs {
  const declared = declareScriptInputs(p.scripts);
  const deps: Record<string, NodeId> = { image: p.prev };
  if (p.metadata) deps.metadata = p.metadata;
  const values = { ...declared.values, ...distroConfigJson(p.config) } as Record<string, never>;
  if (p.buildPackages) Object.assign(values, { BuildPackages: p.buildPackages });
  if (p.cmdline) Object.assign(values, { cmdline: p.cmdline, BuildDirectory: p.buildDir ?? null });
  // $BUILDDIR in postinst and finalize scripts: the build steps that write it record its state in their
  // outputs (recordBuildDir), so these scripts rerun when it changed.
  if (p.buildDirWriters) {
    Object.assign(values, { BuildDirectory: p.buildDir ?? null });
    for (const id of p.buildDirWriters) deps[`builddir:${id}`] = id;
  }
  if (p.recordBuildDir) Object.assign(values, { RecordBuildDirectory: true });
  let own: DeclaredInputs = {
    paths: declared.paths,
    values,
    secrets: declared.secrets,
    env: declared.env,
    deps,
  };
  // With repository metadata, scripts get the package manager (mkosi-install, apt), which reads the
  // sandbox trees.
  if (p.metadata)
    own = withToolInputs(own, sandboxTreeInputs(p.scripts.base, p.sandboxTrees, p.sandboxLinks));
  // Scripts run whatever they like from the tools tree: the default tools tree's digest is an input (and
  // so is the output digest of an image that builds the tree, ToolsTree=%O/…), a tools tree directory
  // (like the host) is not fingerprinted as a whole (BuildPackages= run the package manager).
  const producedTools = p.tools?.kind === "path" && p.tools.producers !== undefined;
  const installs = (p.buildPackages?.length ?? 0) > 0;
  return p.tools?.kind === "image" || producedTools || installs
    ? withToolInputs(
        own,
        toolInputs(p.tools, installs ? packageManagerTools(p.config.Distribution).install : []),
      )
    : own;
}

async function packageManagerSupport(
  ctx: TaskContext,
  p: Params,
  tools: ToolsTreeMount | undefined,
): Promise<ScriptPackageManagerSupport | undefined> {
  const pm = await imagePackageManager(ctx, p, tools);
  if (!pm) return undefined;
  return (await loadInstaller(p.config.Distribution)).scriptSupport(pm);
}

/** The package manager context of a script step, when the image has repository metadata. */
async function imagePackageManager(ctx: TaskContext, p: Params, tools: ToolsTreeMount | undefined) {
  const metadata = ctx.deps.metadata;
  if (!metadata) return undefined;
  return packageManagerContext(ctx, p.config, {
    metadataDir: metadata.dir,
    packageCacheDir: p.packageCacheDir,
    sandboxTrees: await sandboxTreeDirs(ctx, p.sandboxTrees),
    debugShell: p.debugShell,
    tools,
  });
}

async function run(
  ctx: TaskContext,
  p: Params,
  root: string,
  extra: Partial<Parameters<typeof runScripts>[0]> = {},
): Promise<void> {
  await withToolsTree(ctx, p.tools, async (tools) => {
    await runScripts({
      ...scriptRunBase(ctx, p),
      root,
      packageManager: await packageManagerSupport(ctx, p, tools),
      tools,
      ...extra,
    });
  });
}

/** Scripts may install packages (mkosi-install, apt) when the image has a package manager: then they
 * hold the package cache. Without one (Distribution=custom) scripts of different images run at once. */
function scriptResources(p: Params): string[] {
  return p.metadata ? [packageCacheResource(p.packageCacheDir)] : [];
}

/** Scripts get the whole configuration ($MKOSI_CONFIG), and so do these steps' keys, but for the seed. */
const SCRIPT_READS = {
  reads: "all",
  unkeyed: {
    Seed: "random on every invocation unless configured; $MKOSI_CONFIG in keys leaves it out so that scripts do not rerun on every build",
  },
} as const;

function baseParams(
  kind: ScriptKind,
  scripts: string[],
  image: ImageView,
  env: PlanEnv,
  prev: NodeId | undefined,
  nodes: Record<string, NodeId>,
  tools: ToolsTree | null,
): Params {
  if (!prev) throw new Error(`internal error: ${image.Image}/${kind} has no image below it`);
  return {
    scripts: scriptInputs(kind, scripts, image, env),
    image,
    config: distroConfig(image),
    sandboxTrees: image.SandboxTrees,
    sandboxLinks: nodes.metadata ? sandboxLinkDigests(env, image.SandboxTrees) : {},
    packageCacheDir: env.packageCacheDir,
    uid: env.uid,
    gid: env.gid,
    prev,
    metadata: nodes.metadata,
    debugShell: debugShellOf(env),
    tools,
  };
}

const prepareTask: TaskDefinition<Params> = {
  name: "prepare",
  implementation: implementationDigest(import.meta.url),
  inputs,
  resources: scriptResources,
  run: (ctx, p) =>
    withLayer(ctx, ctx.deps.image, async ({ root }) => {
      await run(ctx, p, root, { phase: "final" });
      return undefined;
    }),
};

export const prepare: Step<Params> = {
  name: "prepare",
  task: prepareTask,
  ...SCRIPT_READS,
  layer: true,
  wanted: (image) => image.PrepareScripts.length > 0,
  params: ({ image, env, prev, nodes, tools }) =>
    baseParams("prepare", image.PrepareScripts, image, env, prev, nodes, tools),
};

const buildOverlayTask: TaskDefinition<Params> = {
  name: "build-overlay",
  implementation: implementationDigest(import.meta.url),
  inputs,
  resources: scriptResources,
  run: (ctx, p) =>
    withLayer(ctx, ctx.deps.image, async ({ root }) => {
      if (p.buildPackages && p.buildPackages.length > 0) {
        const buildPackages = p.buildPackages;
        await withToolsTree(ctx, p.tools, async (tools) => {
          const pm = await imagePackageManager(ctx, p, tools);
          if (!pm) throw new Error("BuildPackages= needs a distribution with a package manager");
          return loadInstaller(p.config.Distribution).then((installer) =>
            installer.install(pm, root, buildPackages),
          );
        });
      }
      await run(ctx, p, root, { phase: "build" });
      return undefined;
    }),
};

/** Build packages and prepare("build") form a layer used only by the build scripts; the final image
 * does not contain it. */
export const buildOverlay: Step<Params> = {
  name: "build-overlay",
  task: buildOverlayTask,
  ...SCRIPT_READS,
  layer: false,
  wanted: (image) =>
    image.BuildScripts.length > 0 && (image.BuildPackages.length > 0 || image.PrepareScripts.length > 0),
  params: ({ image, env, prev, nodes, tools }) => ({
    ...baseParams("prepare", image.PrepareScripts, image, env, prev, nodes, tools),
    buildPackages: image.BuildPackages,
  }),
};

const buildTask: TaskDefinition<Params> = {
  name: "build",
  implementation: implementationDigest(import.meta.url),
  inputs,
  async run(ctx, p) {
    // Build scripts see the image plus the build overlay, through a throwaway upper layer: what they
    // leave in the image is discarded; $DESTDIR, $ARTIFACTDIR and $PACKAGEDIR are this node's output.
    const keys = stackKeys(ctx, ctx.deps.image);
    const lowers = stackDirs(ctx, keys);
    const upper = join(ctx.tmp, "volatile");
    const work = join(ctx.tmp, "volatile-work");
    const root = join(ctx.tmp, "root");
    const dest = join(ctx.out, "dest");
    const artifacts = join(ctx.out, "artifacts");
    const packages = join(ctx.out, "packages");
    await Promise.all(
      [upper, work, root, dest, artifacts, packages].map((dir) => mkdir(dir, { recursive: true })),
    );
    if (p.buildDir) await mkdir(p.buildDir, { recursive: true });
    const { mountOverlay } = await import("../../sandbox/overlay.js");
    const mount = await mountOverlay({ lowers, upper, work, target: root });
    try {
      await run(ctx, p, root, {
        destDir: dest,
        artifactDir: artifacts,
        packageDir: packages,
        buildDir: p.buildDir ?? undefined,
        args: p.cmdline,
      });
    } finally {
      await mount.unmount();
    }
    // The build directory is state outside the cache; where scripts read it ($BUILDDIR in postinst and
    // finalize), a listing of what this build left there is part of the output, so that they rerun when
    // it changed. (Only there: it makes the output differ on every incremental build, which reruns the
    // steps that install the packages too.)
    if (p.recordBuildDir && p.buildDir)
      await writeFile(join(ctx.out, "builddir.state"), await buildDirState(p.buildDir));
    return { meta: { packages: (await readdir(packages)).sort() } };
  },
};

/** Names, modes, sizes and modification times of everything below `dir` (no contents), as a digest. */
async function buildDirState(dir: string): Promise<string> {
  const lines: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(dir, path), { bigint: true });
      lines.push(`${path}\t${st.mode}\t${st.size}\t${st.mtimeNs}`);
      if (st.isDirectory()) await walk(path);
    }
  };
  await walk("");
  return `${createHash("sha256").update(lines.join("\n")).digest("hex")}\n`;
}

export const build: Step<Params> = {
  name: "build",
  task: buildTask,
  ...SCRIPT_READS,
  layer: false,
  wanted: (image) => image.BuildScripts.length > 0,
  params: ({ image, env, prev, nodes, tools, buildDirRead }) => ({
    ...baseParams("build", image.BuildScripts, image, env, nodes["build-overlay"] ?? prev, nodes, tools),
    cmdline: env.options.cmdline,
    buildDir: image.BuildSubdirectory ?? image.BuildDirectory,
    recordBuildDir: buildDirRead === true,
  }),
};

function layerScriptStep(name: string, kind: ScriptKind, pick: (image: ImageView) => string[]): Step<Params> {
  const task: TaskDefinition<Params> = {
    name,
    implementation: implementationDigest(import.meta.url),
    inputs,
    resources: scriptResources,
    run: (ctx, p) =>
      withLayer(ctx, ctx.deps.image, async ({ root }) => {
        // $OUTPUTDIR: files scripts put there are published next to the image.
        const output = join(ctx.out, "output");
        await mkdir(output, { recursive: true });
        if (p.buildDir) await mkdir(p.buildDir, { recursive: true });
        await run(ctx, p, root, { outputDir: output, buildDir: p.buildDir ?? undefined });
        if ((await readdir(output)).length === 0) await rm(output, { recursive: true });
        return undefined;
      }),
  };
  return {
    name,
    task,
    ...SCRIPT_READS,
    layer: true,
    wanted: (image) => pick(image).length > 0,
    params: ({ image, env, prev, nodes, tools, dependencyBuilds }) => {
      const buildDir = image.BuildSubdirectory ?? image.BuildDirectory;
      return {
        ...baseParams(kind, pick(image), image, env, prev, nodes, tools),
        ...(buildDir
          ? { buildDir, buildDirWriters: [...(nodes.build ? [nodes.build] : []), ...dependencyBuilds] }
          : {}),
      };
    },
  };
}

export const postinst = layerScriptStep("postinst", "postinst", (image) => image.PostInstallationScripts);
export const finalize = layerScriptStep("finalize", "finalize", (image) => image.FinalizeScripts);
