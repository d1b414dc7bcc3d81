// Turns resolved image configs into the engine graph: per image, the execution flow's steps in order,
// layered steps stacked on one another, and edges between images for Dependencies=. With
// ToolsTree=default the default tools tree is an image of the same graph (group "tools"), planned by the
// same steps up to its last layer (it is not published); the other images' steps that run its programs
// depend on that layer (see toolstree.ts).
import type { NodeId, NodeSpec } from "../engine/api.js";
import { formatOf } from "../formats/registry.js";
import {
  crossImageTask,
  dependencyClosure,
  type ImageOutputs,
  imageOutputs,
  OutputMap,
  runsScripts,
} from "./crossimage.js";
import type { PlanEnv } from "./env.js";
import type { ImageView } from "./image.js";
import { outputDirectory } from "./outputs.js";
import { PIPELINE } from "./pipeline.js";
import { checkDeclaredReads, settingsView, wholeImage } from "./settings-view.js";
import type { AnyStep, StepPlanContext } from "./step.js";
import { sync } from "./steps/sync.js";
import { type ToolsTree, toolsTreeOf } from "./toolstree.js";

export interface ImagePlan {
  image: ImageView;
  /** Node ids of this image by step name. */
  nodes: Record<string, NodeId>;
  /** The node that places the outputs in the output directory (absent for Format=none). */
  publish: NodeId | undefined;
  /** Steps whose result is mkosi's "cached image" (Incremental=): everything up to the build overlay. */
  imageCache: NodeId[];
}

export interface BuildPlan {
  nodes: NodeSpec[];
  images: ImagePlan[];
  /** The default tools tree (ToolsTree=default), planned before the images. */
  tools?: ImagePlan & { top: NodeId };
}

/** Steps of the default tools tree: everything up to its last layer (no output, no publishing). */
const NOT_FOR_TOOLS = new Set(["output", "checksum", "manifest", "publish"]);

/** Steps that form mkosi's incremental image cache (before build scripts run). */
export const IMAGE_CACHE_STEPS = new Set([
  "base-trees",
  "skeleton",
  "bootstrap",
  "packages",
  "prepare",
  "build-overlay",
]);

export function nodeId(image: ImageView, step: string): NodeId {
  return `${image.Image}/${step}`;
}

/** What a step of one image may read of the images built before it (see crossimage.ts). */
interface CrossImage {
  map: OutputMap;
  /** The nodes standing for the whole of each image in Dependencies= (for steps that run scripts). */
  whole: NodeId[];
}

function planImage(
  image: ImageView,
  env: PlanEnv,
  builds: Map<string, NodeId>,
  tools: ToolsTree | null,
  steps: readonly AnyStep[] = PIPELINE,
  initrd?: StepPlanContext["initrd"],
  cross?: CrossImage,
  buildDirRead = false,
): [NodeSpec[], ImagePlan] {
  const specs: NodeSpec[] = [];
  const nodes: Record<string, NodeId> = {};
  let prev: NodeId | undefined;
  const dependencyBuilds = image.Dependencies.map((name) => builds.get(name)).filter(
    (id): id is NodeId => id !== undefined,
  );
  // Format=none stops after the build scripts; without build scripts there is nothing to do at all.
  const last = formatOf(image.Format).buildOnly ? (image.BuildScripts.length > 0 ? "build" : "") : undefined;
  if (last === "") return [specs, { image, nodes, publish: undefined, imageCache: [] }];
  for (const step of steps) {
    if (!step.wanted(image, env)) continue;
    const id = nodeId(image, step.name);
    const params = stepParams(step, {
      image,
      env,
      prev,
      nodes,
      dependencyBuilds,
      tools,
      initrd,
      buildDirRead,
    });
    const task = cross
      ? crossImageTask(step.task, cross.map, runsScripts(step.name, image) ? cross.whole : [])
      : step.task;
    specs.push({ id, task, params, group: image.Image, label: step.name });
    nodes[step.name] = id;
    if (step.layer) prev = id;
    if (step.name === last) break;
  }
  const plan: ImagePlan = {
    image,
    nodes,
    publish: nodes.publish,
    imageCache: Object.entries(nodes)
      .filter(([step]) => IMAGE_CACHE_STEPS.has(step))
      .map(([, id]) => id),
  };
  return [specs, plan];
}

/** A step's parameters, built from the settings it declares and checked to reach its key (see
 * settings-view.ts). */
export function stepParams(step: AnyStep, context: StepPlanContext): unknown {
  const reads = typeof step.reads === "function" ? step.reads(context.image) : step.reads;
  const view = settingsView(context.image, reads, step.name);
  const params = step.params({ ...context, image: view, env: viewEnv(context.env) });
  checkDeclaredReads(step.name, view, step.unkeyed ?? {}, step.task.inputs(params));
  return params;
}

/** The planning environment as steps see it: $MKOSI_CONFIG only for steps that read everything. One per
 * environment, so what steps memoize per environment is shared. */
const viewEnvs = new WeakMap<PlanEnv, PlanEnv>();
function viewEnv(env: PlanEnv): PlanEnv {
  let view = viewEnvs.get(env);
  if (!view) {
    view = { ...env, configJson: (image) => env.configJson(wholeImage(image, "$MKOSI_CONFIG")) };
    viewEnvs.set(env, view);
  }
  return view;
}

/** The sync scripts of every image: run before the image graph is planned (see steps/sync.ts). With a
 * default tools tree (`tools`) they run with it, so its nodes come first in this graph too (the image
 * graph then finds them cached). */
export function planSync(images: ImageView[], baseEnv: PlanEnv, tools?: ImageView | null): NodeSpec[] {
  const env = withOwnDirectories(baseEnv, [...images, tools]);
  const wanted = images.filter((image) => sync.wanted(image, env));
  if (wanted.length === 0) return [];
  const toolsSpecs: NodeSpec[] = [];
  let top: NodeId | undefined;
  if (tools) {
    const [specs, plan] = planToolsTree(tools, env);
    toolsSpecs.push(...specs);
    top = plan.top;
  }
  const syncSpecs = wanted.map((image) => ({
    id: nodeId(image, sync.name),
    task: sync.task,
    params: stepParams(sync, {
      image,
      env,
      prev: undefined,
      nodes: {},
      dependencyBuilds: [],
      tools: toolsTreeOf(image, top),
    }),
    group: image.Image,
    label: sync.name,
  }));
  return [...toolsSpecs, ...syncSpecs];
}

/** Plan the default tools tree image; returns its nodes and the node of its last layer. */
function planToolsTree(tools: ImageView, env: PlanEnv): [NodeSpec[], ImagePlan & { top: NodeId }] {
  const steps = PIPELINE.filter((step) => !NOT_FOR_TOOLS.has(step.name));
  // The tools tree itself is built with the host's tools.
  const [specs, plan] = planImage(tools, env, new Map(), null, steps);
  let top: NodeId | undefined;
  for (const step of steps) if (step.layer && plan.nodes[step.name]) top = plan.nodes[step.name];
  if (!top) throw new Error("the default tools tree has no image layers to use");
  return [specs, { ...plan, top }];
}

/** `env` with the directories every image of this invocation writes (see PlanEnv.ownDirectories). */
function withOwnDirectories(env: PlanEnv, images: readonly (ImageView | null | undefined)[]): PlanEnv {
  const own = new Set<string>();
  for (const image of images) {
    if (!image) continue;
    if (!formatOf(image.Format).buildOnly) own.add(outputDirectory(image, env.configDir));
    for (const dir of [image.BuildDirectory, image.CacheDirectory, image.PackageCacheDirectory])
      if (dir) own.add(dir);
  }
  // The configuration directory itself is the default output directory: its own entries are excluded by
  // name (sourceExcludes), the directory is not.
  own.delete(env.configDir);
  return { ...env, ownDirectories: [...own].sort() };
}

/** Steps of a default initrd: its image and its output (the cpio), nothing published. */
const NOT_FOR_INITRD = new Set(["checksum", "manifest", "publish"]);

/**
 * The default initrds (images of group "initrd", planned like the default tools tree): one per distinct
 * configuration, shared by every image whose initrd configuration is the same. `initrds` maps an image
 * name to its default initrd's configuration; returns their nodes and, per image name, what its boot
 * steps need.
 */
export function planInitrds(
  initrds: ReadonlyMap<string, ImageView>,
  env: PlanEnv,
  tools: NodeId | undefined,
): [NodeSpec[], Map<string, NonNullable<StepPlanContext["initrd"]>>] {
  const specs: NodeSpec[] = [];
  const byImage = new Map<string, NonNullable<StepPlanContext["initrd"]>>();
  const planned = new Map<string, NonNullable<StepPlanContext["initrd"]>>();
  const steps = PIPELINE.filter((step) => !NOT_FOR_INITRD.has(step.name));
  for (const [name, config] of initrds) {
    const identity = JSON.stringify(config);
    let initrd = planned.get(identity);
    if (!initrd) {
      const group = planned.size === 0 ? "initrd" : `initrd-${planned.size + 1}`;
      const view = config.Image === group ? config : { ...config, Image: group };
      const [nodes, plan] = planImage(view, env, new Map(), toolsTreeOf(view, tools), steps);
      if (!plan.nodes.output) throw new Error("internal error: the default initrd has no output step");
      specs.push(...nodes);
      initrd = {
        node: plan.nodes.output,
        kernelModules: (config.KernelModules as string[] | undefined) ?? [],
      };
      planned.set(identity, initrd);
    }
    byImage.set(name, initrd);
  }
  return [specs, byImage];
}

/** Plan every image. `images` are in build order (dependencies first, main last), as config/ gives them;
 * `tools` is the default tools tree's image (ToolsTree=default), if any; `initrds` the default initrds'
 * configurations by image name (see planInitrds). */
export function planBuild(
  images: ImageView[],
  baseEnv: PlanEnv,
  tools?: ImageView | null,
  initrds: ReadonlyMap<string, ImageView> = new Map(),
): BuildPlan {
  const env = withOwnDirectories(baseEnv, [...images, tools, ...initrds.values()]);
  const nodes: NodeSpec[] = [];
  const plans: ImagePlan[] = [];
  const builds = new Map<string, NodeId>();
  let toolsPlan: BuildPlan["tools"];
  if (tools) {
    const [specs, plan] = planToolsTree(tools, env);
    nodes.push(...specs);
    toolsPlan = plan;
  }
  const [initrdSpecs, initrdOf] = planInitrds(initrds, env, toolsPlan?.top);
  nodes.push(...initrdSpecs);
  const outputs = images.map((image) =>
    imageOutputs(
      image,
      env.configDir,
      formatOf(image.Format).buildOnly ? undefined : nodeId(image, "publish"),
    ),
  );
  const byName = new Map(images.map((image) => [image.Image, image]));
  const finals = new Map<string, NodeId>();
  // Images whose build directory post-installation or finalize scripts read: their own, and their
  // dependencies' (the build steps that write it).
  const buildDirRead = new Set<string>();
  for (const image of images)
    if (
      (image.BuildSubdirectory ?? image.BuildDirectory) &&
      image.PostInstallationScripts.length + image.FinalizeScripts.length > 0
    )
      for (const name of [image.Image, ...image.Dependencies]) buildDirRead.add(name);
  images.forEach((image, index) => {
    const cross = crossImageOf(image, outputs.slice(0, index), outputs, byName, finals);
    const tools = producedToolsTree(toolsTreeOf(image, toolsPlan?.top), cross?.map);
    const [specs, plan] = planImage(
      image,
      env,
      builds,
      tools,
      PIPELINE,
      initrdOf.get(image.Image),
      cross,
      buildDirRead.has(image.Image),
    );
    nodes.push(...specs);
    plans.push(plan);
    if (plan.nodes.build) builds.set(image.Image, plan.nodes.build);
    const final = plan.publish ?? plan.nodes.build;
    if (final) finals.set(image.Image, final);
  });
  return { nodes, images: plans, ...(toolsPlan ? { tools: toolsPlan } : {}) };
}

/** What `image` may read of the images before it; undefined when there is nothing (the first image). */
function crossImageOf(
  image: ImageView,
  before: ImageOutputs[],
  all: ImageOutputs[],
  byName: Map<string, ImageView>,
  finals: Map<string, NodeId>,
): CrossImage | undefined {
  const whole = dependencyClosure(image, byName)
    .map((name) => finals.get(name))
    .filter((id): id is NodeId => id !== undefined)
    .sort();
  if (whole.length === 0 && !before.some((outputs) => outputs.node)) return undefined;
  return { map: new OutputMap(before, all), whole };
}

/** ToolsTree=%O/…: the tools tree is another image's output; its publish node stands for it. */
function producedToolsTree(tools: ToolsTree | null, map: OutputMap | undefined): ToolsTree | null {
  if (tools?.kind !== "path" || !map) return tools;
  const reading = map.read(tools.path);
  return reading.kind === "inside" ? { ...tools, producers: reading.nodes } : tools;
}
