// Turns resolved image configs into the engine graph: per image, the execution flow's steps in order,
// layered steps stacked on one another, and edges between images for Dependencies=.
import type { NodeId, NodeSpec } from "../engine/api.js";
import type { PlanEnv } from "./env.js";
import type { ImageView } from "./image.js";
import { PIPELINE } from "./pipeline.js";
import type { AnyStep, StepPlanContext } from "./step.js";
import { sync } from "./steps/sync.js";

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
}

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

function planImage(image: ImageView, env: PlanEnv, builds: Map<string, NodeId>): [NodeSpec[], ImagePlan] {
  const specs: NodeSpec[] = [];
  const nodes: Record<string, NodeId> = {};
  let prev: NodeId | undefined;
  const dependencyBuilds = image.Dependencies.map((name) => builds.get(name)).filter(
    (id): id is NodeId => id !== undefined,
  );
  const steps: readonly AnyStep[] = PIPELINE;
  // Format=none stops after the build scripts; without build scripts there is nothing to do at all.
  const last = image.Format === "none" ? (image.BuildScripts.length > 0 ? "build" : "") : undefined;
  if (last === "") return [specs, { image, nodes, publish: undefined, imageCache: [] }];
  for (const step of steps) {
    if (!step.wanted(image, env)) continue;
    const context: StepPlanContext = { image, env, prev, nodes, dependencyBuilds };
    const id = nodeId(image, step.name);
    specs.push({ id, task: step.task, params: step.params(context), group: image.Image, label: step.name });
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

/** The sync scripts of every image: run before the image graph is planned (see steps/sync.ts). */
export function planSync(images: ImageView[], env: PlanEnv): NodeSpec[] {
  return images
    .filter((image) => sync.wanted(image, env))
    .map((image) => ({
      id: nodeId(image, sync.name),
      task: sync.task,
      params: sync.params({ image, env, prev: undefined, nodes: {}, dependencyBuilds: [] }),
      group: image.Image,
      label: sync.name,
    }));
}

/** Plan every image. `images` are in build order (dependencies first, main last), as config/ gives them. */
export function planBuild(images: ImageView[], env: PlanEnv): BuildPlan {
  const nodes: NodeSpec[] = [];
  const plans: ImagePlan[] = [];
  const builds = new Map<string, NodeId>();
  for (const image of images) {
    const [specs, plan] = planImage(image, env, builds);
    nodes.push(...specs);
    plans.push(plan);
    if (plan.nodes.build) builds.set(image.Image, plan.nodes.build);
  }
  return { nodes, images: plans };
}
