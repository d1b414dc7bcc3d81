// Running commands for tasks (ctx.exec) and the per-node log: every line goes to a "log" event, into the
// node's log file, and into a small ring buffer that becomes the failure's log tail.

import { createWriteStream, type WriteStream } from "node:fs";
import type { ExecOptions, ExecResult, NodeId } from "./api.js";

export const LOG_TAIL_LINES = 20;

/** Output that says a file system is full (as tools print it, and Node's ENOSPC). */
export const DISK_FULL = /No space left on device|ENOSPC/i;

/** A command failed or was cancelled. Carries what a renderer needs to show the failure. */
export class TaskCommandError extends Error {
  readonly command: string[];
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly logTail: string[];
  readonly cancelled: boolean;
  constructor(opts: {
    command: string[];
    exitCode?: number;
    signal?: string;
    logTail: string[];
    cancelled?: boolean;
    reason?: string;
  }) {
    const cmd = opts.command.join(" ");
    const how = opts.cancelled
      ? "was cancelled"
      : opts.reason
        ? `could not run: ${opts.reason}`
        : opts.signal
          ? `was killed by ${opts.signal}`
          : `failed with exit status ${opts.exitCode}`;
    super(`"${cmd}" ${how}`);
    this.name = "TaskCommandError";
    this.command = opts.command;
    this.exitCode = opts.exitCode;
    this.signal = opts.signal;
    this.logTail = opts.logTail;
    this.cancelled = opts.cancelled ?? false;
  }
}

/** Live process groups started by exec, killed if this process exits while they run. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", () => {
      for (const g of liveGroups) {
        try {
          process.kill(-g, "SIGKILL");
        } catch {
          /* gone */
        }
      }
    });
  }
}

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

function splitter(onLine: (line: string) => void): { push(chunk: Buffer | string): void; end(): void } {
  let rest = "";
  return {
    push(chunk) {
      const s = rest + chunk.toString();
      const parts = s.split("\n");
      rest = parts.pop() ?? "";
      for (const p of parts) onLine(p.endsWith("\r") ? p.slice(0, -1) : p);
    },
    end() {
      if (rest !== "") onLine(rest);
      rest = "";
    },
  };
}

/** Kill grace period between SIGTERM and SIGKILL of a cancelled command's process group. */
const KILL_GRACE_MS = 3000;

export async function runCommand(
  log: NodeLog,
  signal: AbortSignal,
  file: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  const command = [file, ...args];
  if (signal.aborted) throw new TaskCommandError({ command, logTail: log.tail(), cancelled: true });
  const { spawn } = await import("node:child_process");
  const env = options.extendEnv === false ? { ...options.env } : { ...process.env, ...options.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return await new Promise<ExecResult>((resolvePromise, reject) => {
    const child = spawn(file, [...args], {
      cwd: options.cwd,
      env: env as NodeJS.ProcessEnv,
      detached: true,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let killTimer: NodeJS.Timeout | undefined;
    let cancelled = false;
    const onAbort = () => {
      cancelled = true;
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        /* gone */
      }
      killTimer = setTimeout(() => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
        } catch {
          /* gone */
        }
      }, KILL_GRACE_MS);
      killTimer.unref();
    };
    if (child.pid !== undefined) trackGroup(child.pid);
    signal.addEventListener("abort", onAbort, { once: true });
    const stdoutChunks: Buffer[] = [];
    const out = splitter((l) => log.line(l, "stdout"));
    const err = splitter((l) => log.line(l, "stderr"));
    child.stdout!.on("data", (c: Buffer) => (options.captureStdout ? stdoutChunks.push(c) : out.push(c)));
    child.stderr!.on("data", (c: Buffer) => err.push(c));
    if (options.input !== undefined && child.stdin) {
      child.stdin.on("error", () => {
        /* the command may not read its input */
      });
      child.stdin.end(options.input);
    }
    let spawnError: Error | undefined;
    child.on("error", (e) => {
      spawnError = e;
    });
    child.on("exit", () => {
      // Leftover processes of the group (daemons a script forgot) must not outlive the command; they
      // would also keep its output pipes open.
      if (child.pid === undefined) return;
      liveGroups.delete(child.pid);
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        /* none */
      }
    });
    child.on("close", (code, sig) => {
      signal.removeEventListener("abort", onAbort);
      if (killTimer) clearTimeout(killTimer);
      out.end();
      err.end();
      if (spawnError) {
        reject(new TaskCommandError({ command, logTail: log.tail(), reason: spawnError.message }));
      } else if (cancelled || signal.aborted) {
        reject(new TaskCommandError({ command, logTail: log.tail(), cancelled: true }));
      } else if (code !== 0) {
        reject(
          new TaskCommandError({
            command,
            exitCode: code ?? undefined,
            signal: sig ?? undefined,
            logTail: log.tail(),
          }),
        );
      } else {
        resolvePromise({ exitCode: 0, stdout: Buffer.concat(stdoutChunks).toString() });
      }
    });
  });
}
