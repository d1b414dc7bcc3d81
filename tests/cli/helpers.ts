// Test helpers: a fake terminal/pipe stream that records what is written.

import { Writable } from "node:stream";
import { stripAnsi } from "../../cli/render/format.js";

export class FakeStream extends Writable {
  readonly chunks: string[] = [];
  isTTY: boolean;
  columns: number;
  rows: number;

  constructor(options: { tty?: boolean; columns?: number; rows?: number } = {}) {
    super();
    this.isTTY = options.tty ?? false;
    this.columns = options.columns ?? 100;
    this.rows = options.rows ?? 40;
  }

  override _write(
    chunk: Buffer | string,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    this.chunks.push(chunk.toString());
    callback();
  }

  get text(): string {
    return this.chunks.join("");
  }

  get plainText(): string {
    return stripAnsi(this.text);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
