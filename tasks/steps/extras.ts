// The build scripts' output ($DESTDIR) and the extra trees (ExtraTrees=, mkosi.extra/) copied into the
// image, in that order (extra trees win).

import { join } from "node:path";
import type { NodeId, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import type { ConfigTree } from "../image.js";
import { withLayer } from "../layers.js";
import { imageBelow, type Step } from "../step.js";
import { copyDirPreserving, copyTreeInto, treeInputs } from "../trees.js";

interface Params {
  trees: ConfigTree[];
  base: string;
  prev: NodeId;
  build: NodeId | undefined;
}

const task: TaskDefinition<Params> = {
  name: "extras",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => ({
    paths: treeInputs(p.base, "ExtraTrees", p.trees),
    deps: { image: p.prev, ...(p.build ? { build: p.build } : {}) },
  }),
  async run(ctx, p) {
    return withLayer(ctx, ctx.deps.image, async ({ root }) => {
      const build = ctx.deps.build;
      if (build) await copyDirPreserving(ctx, join(build.dir, "dest"), root);
      for (const tree of p.trees) await copyTreeInto(ctx, root, tree);
      return undefined;
    });
  },
};

export const extras: Step<Params> = {
  name: "extras",
  task,
  reads: ["ExtraTrees"],
  layer: true,
  wanted: (image) => image.ExtraTrees.length > 0 || image.BuildScripts.length > 0,
  params: (context) => {
    const { image, env, nodes } = context;
    const prev = imageBelow(context, "extras");
    return { trees: image.ExtraTrees, base: env.configDir, prev, build: nodes.build };
  },
};
