// `build --json`: the engine's events, unchanged, one JSON text per line (NDJSON), or as RFC 7464
// JSON text sequences (each record prefixed by RS) when `seq` is set.

import type { EngineEvent } from "../../engine/api.js";
import type { OutputStream, Renderer } from "./types.js";

const RS = "\u001e";

export class JsonRenderer implements Renderer {
  constructor(
    private readonly stream: OutputStream,
    private readonly options: { seq?: boolean } = {},
  ) {}

  onEvent(event: EngineEvent): void {
    this.stream.write(`${this.options.seq ? RS : ""}${JSON.stringify(event)}\n`);
  }

  async close(): Promise<void> {}
}

/** Parse NDJSON or JSON-SEQ output back into events (tests, tools reading `--json`). */
export function parseJsonEvents(text: string): EngineEvent[] {
  return text
    .split(/[\n\u001e]/)
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as EngineEvent);
}
