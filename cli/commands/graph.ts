// `mkosi graph`: the planned pipeline for every image, what will run and why, without building.

import type { PlanEnv } from "../../tasks/env.js";
import { planBuild } from "../../tasks/plan.js";
import { explainNode, type GraphFormat, renderGraph } from "../graph/index.js";
import { shouldColor } from "../render/format.js";
import { type CommandInput, openCache, planEnv, plannedNodes } from "./session.js";

export interface GraphCommandInput extends CommandInput {
  format: GraphFormat;
  /** --why NODE: the full explanation for one node. */
  why?: string;
}

export async function graphCommand(input: GraphCommandInput): Promise<number> {
  const env: PlanEnv = { ...planEnv(input), inspectOnly: true };
  const engine = await openCache(env, { remote: input.remote, secretKey: input.secretKey });
  try {
    const plan = planBuild(input.images, env, input.tools, input.initrds);
    const explanations = await engine.explain(plan.nodes, {
      onEvent: (event) => {
        if (event.type === "warning") process.stderr.write(`mkosi: warning: ${event.message}\n`);
      },
    });
    const graphInput = { nodes: plannedNodes(plan), explanations };
    const color = shouldColor(process.stdout);
    if (input.why) {
      const result = explainNode(graphInput, input.why, { color });
      if (!result.ok) {
        // The error already names close matches; with none, list what there is to ask about.
        const hint =
          result.candidates.length > 0 ? "" : `; nodes: ${graphInput.nodes.map((n) => n.id).join(", ")}`;
        process.stderr.write(`mkosi: ${result.error}${hint}\n`);
        return 1;
      }
      process.stdout.write(result.text.endsWith("\n") ? result.text : `${result.text}\n`);
      return 0;
    }
    const text = renderGraph(input.format, graphInput, { color });
    process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
    return 0;
  } finally {
    await engine.close();
  }
}
