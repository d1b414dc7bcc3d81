// Base trees (BaseTrees=): existing OS trees (directories or tar archives) the image starts from.
// Unlike skeleton and extra trees, ownership is kept: these are whole file systems.

import { stat } from "node:fs/promises";
import type { TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import { withLayer } from "../layers.js";
import type { Step } from "../step.js";
import { copyDirPreserving, extractPreserving, pathInputs } from "../trees.js";

interface Params {
  trees: string[];
  base: string;
}

const task: TaskDefinition<Params> = {
  name: "base-trees",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => ({
    paths: pathInputs(
      p.base,
      p.trees.map((path) => ({ setting: "BaseTrees", path })),
    ),
  }),
  async run(ctx, p) {
    return withLayer(ctx, undefined, async ({ root }) => {
      for (const tree of p.trees) {
        const info = await stat(tree);
        if (info.isDirectory()) await copyDirPreserving(ctx, tree, root);
        else if (/\.tar(\.\w+)?$/.test(tree)) await extractPreserving(ctx, tree, root);
        else throw new Error(`BaseTrees=${tree}: only directories and tar archives are supported`);
      }
      return undefined;
    });
  },
};

export const baseTrees: Step<Params> = {
  name: "base-trees",
  task,
  reads: ["BaseTrees"],
  layer: true,
  wanted: (image) => image.BaseTrees.length > 0,
  params: ({ image, env }) => ({ trees: image.BaseTrees, base: env.configDir }),
};
