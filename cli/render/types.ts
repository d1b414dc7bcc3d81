import type { EngineEvent } from "../../engine/api.js";

/** A consumer of the engine's event stream. */
export interface Renderer {
  onEvent(event: EngineEvent): void;
  /** Flush, release the terminal, write files; resolves when all output is written. Idempotent. */
  close(): Promise<void>;
}

/** The stream renderers write to (process.stderr, process.stdout, or a fake in tests). */
export type OutputStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };

/** Runs every renderer on each event; closes them all. */
export function combineRenderers(...renderers: Renderer[]): Renderer {
  return {
    onEvent(event) {
      for (const r of renderers) r.onEvent(event);
    },
    async close() {
      await Promise.all(renderers.map((r) => r.close()));
    },
  };
}
