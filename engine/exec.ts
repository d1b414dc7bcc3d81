// Running commands for tasks (ctx.exec, through engine/command.ts) and the per-node log: every line goes
// to a "log" event, into the node's log file, and into a small ring buffer that becomes the failure's log
// tail.

import { createWriteStream, type WriteStream } from "node:fs";
import type { ExecOptions, ExecResult, NodeId } from "./api.js";
import { DISK_FULL, spawnCommand } from "./command.js";

export { DISK_FULL } from "./command.js";

export const LOG_TAIL_LINES = 20;

/** Kept for compatibility: the one error class of failed commands is CommandError (engine/command.ts). */
export { CommandError as TaskCommandError } from "./command.js";

export class NodeLog {
  private stream: WriteStream;
  private ring: string[] = [];
  private closed = false;
  /** The first line that says the disk is full: it stays in the failure's tail even when later output
   * pushed it out of the ring (dpkg goes on listing every package it could not install). */
  private diskFull: string | undefined;

  constructor(
    readonly id: NodeId,
    readonly file: string,
    private emit: (line: string, stream: "stdout" | "stderr") => void,
  ) {
    this.stream = createWriteStream(file, { flags: "w" });
    this.stream.on("error", () => {
      /* a log that cannot be written must not fail the build */
    });
  }

  line(line: string, stream: "stdout" | "stderr" = "stdout"): void {
    if (this.diskFull === undefined && DISK_FULL.test(line)) this.diskFull = line;
    this.ring.push(line);
    if (this.ring.length > LOG_TAIL_LINES) this.ring.shift();
    if (!this.closed) this.stream.write(`${line}\n`);
    this.emit(line, stream);
  }

  tail(): string[] {
    if (this.diskFull === undefined || this.ring.includes(this.diskFull)) return [...this.ring];
    return [this.diskFull, ...this.ring.slice(1)];
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((res) => this.stream.end(res));
  }
}

/** ctx.exec: a command whose output lines go to the node's log (and events); its environment extends the
 * process's unless `extendEnv` is false. */
export async function runCommand(
  log: NodeLog,
  signal: AbortSignal,
  file: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.extendEnv === false ? {} : process.env))
    if (v !== undefined) env[k] = v;
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return spawnCommand([file, ...args], {
    env,
    cwd: options.cwd,
    signal,
    input: options.input,
    captureStdout: options.captureStdout,
    onLine: (line, stream) => log.line(line, stream),
    tailLines: LOG_TAIL_LINES,
  });
}
