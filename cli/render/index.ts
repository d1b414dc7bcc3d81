// The renderer factory. ink and react are loaded only here, through a dynamic import, and only for a
// terminal: the rest of the CLI starts without them, and pipes never receive escape sequences.

import type { EngineEvent } from "../../engine/api.js";
import { JsonRenderer } from "./json.js";
import { PlainRenderer } from "./plain.js";
import { TraceRenderer } from "./trace.js";
import { combineRenderers, type OutputStream, type Renderer } from "./types.js";

export type RenderMode = "auto" | "plain" | "json" | "tty";

export interface CreateRendererOptions {
  /** auto: tty on an interactive terminal, plain otherwise. */
  mode: RenderMode;
  stream: OutputStream;
  /** Also write a Chrome trace of the build to this file on close (`--trace FILE`). */
  traceFile?: string;
  /** json mode: RFC 7464 JSON text sequences instead of one JSON object per line. */
  jsonSeq?: boolean;
  /** tty mode: frames per second at most (default 10) and lines of output per running node (default 3). */
  fps?: number;
  logLines?: number;
  env?: NodeJS.ProcessEnv;
}

/** Whether the ink view can be used on this stream. */
export function isInteractive(stream: OutputStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (stream.isTTY !== true) return false;
  if (env.TERM === "dumb") return false;
  // ink only writes the final frame when it thinks it runs in CI; a plain log is better there.
  const ci = (k: string) => k in env && env[k] !== "0" && env[k] !== "false";
  return !(ci("CI") || ci("CONTINUOUS_INTEGRATION"));
}

export function resolveMode(
  options: Pick<CreateRendererOptions, "mode" | "stream" | "env">,
): "plain" | "json" | "tty" {
  if (options.mode === "auto") return isInteractive(options.stream, options.env) ? "tty" : "plain";
  return options.mode;
}

export async function createRenderer(options: CreateRendererOptions): Promise<Renderer> {
  const mode = resolveMode(options);
  let main: Renderer;
  switch (mode) {
    case "json":
      main = new JsonRenderer(options.stream, { seq: options.jsonSeq });
      break;
    case "plain":
      main = new PlainRenderer(options.stream);
      break;
    case "tty": {
      const { InkRenderer } = await import("./ink/renderer.js");
      main = new InkRenderer(options.stream, { fps: options.fps, logLines: options.logLines });
      break;
    }
  }
  return options.traceFile ? combineRenderers(main, new TraceRenderer(options.traceFile)) : main;
}

/** Feed a renderer from an async iterable or array of events and close it (tests, replays). */
export async function replay(renderer: Renderer, events: Iterable<EngineEvent> | AsyncIterable<EngineEvent>) {
  for await (const e of events) renderer.onEvent(e);
  await renderer.close();
}

export { reasonLine } from "../graph/reason.js";
export { JsonRenderer, parseJsonEvents } from "./json.js";
export { failureBlocks, formatFailure, formatSummary, renderExplain } from "./messages.js";
export { PlainRenderer } from "./plain.js";
export { BuildState, type NodeRunState, type NodeView } from "./state.js";
export { TraceBuilder, type TraceEvent, type TraceFile, TraceRenderer } from "./trace.js";
export { combineRenderers, type OutputStream, type Renderer } from "./types.js";
