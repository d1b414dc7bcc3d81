// Skeleton trees (SkeletonTrees=, mkosi.skeleton/): copied into the image before any package is installed,
// so they can carry package manager configuration.

import type { NodeId, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import type { ConfigTree } from "../image.js";
import { withLayer } from "../layers.js";
import type { Step } from "../step.js";
import { copyTreeInto, treeInputs } from "../trees.js";

interface Params {
  trees: ConfigTree[];
  base: string;
  prev: NodeId | undefined;
}

const task: TaskDefinition<Params> = {
  name: "skeleton",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => ({
    paths: treeInputs(p.base, "SkeletonTrees", p.trees),
    deps: p.prev ? { image: p.prev } : undefined,
  }),
  async run(ctx, p) {
    return withLayer(ctx, ctx.deps.image, async ({ root }) => {
      for (const tree of p.trees) await copyTreeInto(ctx, root, tree);
      return undefined;
    });
  },
};

export const skeleton: Step<Params> = {
  name: "skeleton",
  task,
  reads: ["SkeletonTrees"],
  layer: true,
  // Always planned: the bottom layer of every image, even an empty one, so later steps (scripts of a
  // Distribution=custom image, say) always have an image below them.
  wanted: () => true,
  params: ({ image, env, prev }) => ({ trees: image.SkeletonTrees, base: env.configDir, prev }),
};
