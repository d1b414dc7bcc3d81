import type { EngineEvent } from "../../engine/api.js";

/** A consumer of the engine's event stream. */
export interface Renderer {
  onEvent(event: EngineEvent): void;
  /** A message from the CLI (a warning, a hint) shown without breaking the display: above the live
   * area on a terminal, as a line in the plain log, not at all in the JSON stream. */
  note?(text: string): void;
  /** Stop writing until resume(): an interactive process (the --debug-shell) has the terminal. Events
   * still update the state; the live area is cleared, and what would have been written meanwhile is
   * written on resume. Resolves when the terminal is free. */
  suspend?(): Promise<void>;
  resume?(): void;
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
    note(text) {
      for (const r of renderers) r.note?.(text);
    },
    async suspend() {
      await Promise.all(renderers.map((r) => r.suspend?.()));
    },
    resume() {
      for (const r of renderers) r.resume?.();
    },
    async close() {
      await Promise.all(renderers.map((r) => r.close()));
    },
  };
}
