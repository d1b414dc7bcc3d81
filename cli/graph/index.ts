// Entry point of the graph renderers for the `graph` verb.

import { renderGraphDot } from "./dot.js";
import { renderGraphJson } from "./json.js";
import { renderGraphMermaid } from "./mermaid.js";
import { buildModel, type GraphInput, type GraphModel } from "./model.js";
import { renderGraphText } from "./text.js";
import { renderWhy, type WhyResult } from "./why.js";

export type GraphFormat = "text" | "dot" | "json" | "mermaid";
export const GRAPH_FORMATS: readonly GraphFormat[] = ["text", "dot", "json", "mermaid"];

export interface RenderGraphOptions {
  /** ANSI colors in the text format (only on a terminal). */
  color?: boolean;
  /** Text format: show only nodes that will run. */
  onlyToRun?: boolean;
}

export function renderGraph(
  format: GraphFormat,
  input: GraphInput | GraphModel,
  options: RenderGraphOptions = {},
): string {
  const model = "byId" in input ? input : buildModel(input);
  switch (format) {
    case "text":
      return renderGraphText(model, options);
    case "dot":
      return renderGraphDot(model);
    case "json":
      return renderGraphJson(model);
    case "mermaid":
      return renderGraphMermaid(model);
  }
}

/** `graph --why NODE`. */
export function explainNode(
  input: GraphInput | GraphModel,
  query: string,
  options: { color?: boolean } = {},
): WhyResult {
  const model = "byId" in input ? input : buildModel(input);
  return renderWhy(model, query, options);
}

export { type GraphJson, graphToJson } from "./json.js";
export { buildModel, findNode, type GraphInput, type GraphModel, type ModelNode } from "./model.js";
export { describeChange, reasonLine, statusText } from "./reason.js";
export { renderGraphDot, renderGraphJson, renderGraphMermaid, renderGraphText, renderWhy, type WhyResult };
