// A pipeline step: an engine task definition plus how the planner derives its parameters from an image.
// Each step module declares its inputs in exactly one place: its task's `inputs()`.
import type { NodeId, TaskDefinition } from "../engine/api.js";
import type { PlanEnv } from "./env.js";
import type { ImageView } from "./image.js";
import type { Reads, SettingName } from "./settings-view.js";
import type { ToolsTree } from "./toolstree.js";

export interface StepPlanContext {
  /** The image as the step may see it: only the settings of `Step.reads` (see settings-view.ts). */
  image: ImageView;
  env: PlanEnv;
  /** Node id of the image layer below this step (undefined for the first layer). */
  prev: NodeId | undefined;
  /** Node ids of other nodes of this image, by step name, planned so far. */
  nodes: Record<string, NodeId>;
  /** Node ids of the `build` nodes of the images this one depends on (Dependencies=), whose packages
   * ($PACKAGEDIR) it may install. */
  dependencyBuilds: NodeId[];
  /** Post-installation or finalize scripts of this image or of one that depends on it see this image's
   * build directory ($BUILDDIR): its build step records the directory's state in its output. */
  buildDirRead?: boolean;
  /** The tools tree this image's steps run their programs from (null: the host's). */
  tools: ToolsTree | null;
  /** The image's default initrd (plan.ts planInitrds): its output node, and its KernelModules= (what
   * `default` means in KernelInitrdModules=). */
  initrd?: { node: NodeId; kernelModules: string[] };
}

export interface Step<P> {
  /** Step name: the node label and the last part of the node id ("main/packages"). */
  name: string;
  task: TaskDefinition<P>;
  /** The settings `params()` reads, by JSON name: through `context.image` it sees only these (reading
   * another throws), and the planner checks that each one it read reaches the key — as a value of the same
   * name, as path inputs, inside $MKOSI_CONFIG or as a secret — unless `unkeyed` says why not. "all" for
   * steps that hand the whole configuration to scripts; a function when that depends on the image. */
  reads: Reads | ((image: ImageView) => Reads);
  /** Settings read that deliberately do not enter the key, each with the reason. */
  unkeyed?: Partial<Record<SettingName, string>>;
  /** Does this image need the step at all? (e.g. no prepare node without prepare scripts) Sees the whole
   * image: whether a node exists shapes the graph, which keys cover through dependencies. */
  wanted(image: ImageView, env: PlanEnv): boolean;
  /** Does the step add a layer to the image tree (so later layered steps stack on it)? */
  layer: boolean;
  params(context: StepPlanContext): P;
}

// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous list of steps; each step is typed in its module
export type AnyStep = Step<any>;

/** The layer below a step that works on the image; skeleton is always planned first, so only a step
 * listed before it in the pipeline can lack one. */
export function imageBelow(context: StepPlanContext, step: string): NodeId {
  if (!context.prev) throw new Error(`internal error: ${context.image.Image}/${step} has no image below it`);
  return context.prev;
}
