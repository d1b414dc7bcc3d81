// `build --json`: the engine's events, unchanged, one JSON text per line (NDJSON), or as RFC 7464
// JSON text sequences (each record prefixed by RS) when `seq` is set.

import type { EngineEvent } from "../../engine/api.js";
import type { OutputStream, Renderer } from "./types.js";

const RS = "\u001e";

export class JsonRenderer implements Renderer {
  /** Records held back while suspended (a debug shell writes to the same stdout). */
  private held?: string[];

  constructor(
    private readonly stream: OutputStream,
    private readonly options: { seq?: boolean } = {},
  ) {}

  onEvent(event: EngineEvent): void {
    const record = `${this.options.seq ? RS : ""}${JSON.stringify(event)}\n`;
    if (this.held) this.held.push(record);
    else this.stream.write(record);
  }

  async suspend(): Promise<void> {
    this.held ??= [];
  }

  resume(): void {
    const held = this.held;
    this.held = undefined;
    if (held && held.length > 0) this.stream.write(held.join(""));
  }

  async close(): Promise<void> {
    this.resume();
  }
}

/** Parse NDJSON or JSON-SEQ output back into events (tests, tools reading `--json`). */
export function parseJsonEvents(text: string): EngineEvent[] {
  return text
    .split(/[\n\u001e]/)
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as EngineEvent);
}
