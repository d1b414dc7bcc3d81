// The one way this project runs a process: tasks (ctx.exec), the sandbox (bwrap), package managers and
// output formats all go through `spawnCommand`, so every command is killed the same way, reports the same
// error (CommandError: the command, exit status or signal, the tail of its output) and keeps the line that
// says a disk is full.
//
// Each command runs in its own process group: cancellation (AbortSignal) sends SIGTERM to the group and
// SIGKILL after a grace period; whatever is left of the group when the command exits (daemons a script
// forgot) is killed too, also when this process exits.
import { spawn } from "node:child_process";

/** Output that says a file system is full (as tools print it, and Node's ENOSPC). */
export const DISK_FULL = /No space left on device|ENOSPC/i;

/** Grace period between SIGTERM and SIGKILL of a cancelled command's process group. */
const KILL_GRACE_MS = 3000;

export type OutputStream = "stdout" | "stderr";

/** A command failed, could not start, or was cancelled. What a renderer shows of a failure. */
export class CommandError extends Error {
  readonly command: string[];
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  /** The last lines of the command's output (the line that says a disk is full is kept). */
  readonly logTail: string[];
  readonly cancelled: boolean;
  /** The first line of the message: the command and how it ended, without the output tail. */
  readonly summary: string;
  constructor(opts: {
    command: readonly string[];
    exitCode?: number;
    signal?: string;
    logTail: string[];
    cancelled?: boolean;
    reason?: string;
  }) {
    const shown = opts.command.length > 12 ? [...opts.command.slice(0, 12), "…"] : opts.command;
    const how = opts.cancelled
      ? "was cancelled"
      : opts.reason
        ? `could not run: ${opts.reason}`
        : opts.signal
          ? `was killed by ${opts.signal}`
          : `failed with exit status ${opts.exitCode}`;
    const summary = `"${shown.join(" ")}" ${how}`;
    // The tail is part of the message for callers that only print messages (verbs, formats); the task
    // renderer shows `summary` with the tail beneath it.
    super(opts.logTail.length ? `${summary}\n${opts.logTail.join("\n")}` : summary);
    this.name = "CommandError";
    this.summary = summary;
    this.command = [...opts.command];
    this.exitCode = opts.exitCode;
    this.signal = opts.signal;
    this.logTail = opts.logTail;
    this.cancelled = opts.cancelled ?? false;
  }
}

export interface SpawnOptions {
  /** The command's complete environment (nothing is inherited). */
  env: Record<string, string>;
  cwd?: string;
  signal?: AbortSignal;
  input?: string | Buffer;
  /** Collect stdout into the result instead of reporting its lines. */
  captureStdout?: boolean;
  /** Reject on a non-zero exit status (default true). */
  check?: boolean;
  /** Every output line, without its newline. */
  onLine?: (line: string, stream: OutputStream) => void;
  /** Lines of output kept for the error (default 30). */
  tailLines?: number;
}

export interface SpawnResult {
  exitCode: number;
  /** Captured stdout (captureStdout), as text and as bytes. */
  stdout: string;
  stdoutBytes: Buffer;
}

/** Live process groups, killed if this process exits while they run. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const group of liveGroups) killGroup(group, "SIGKILL");
  });
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    /* gone */
  }
}

function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let rest = "";
  return {
    push(chunk) {
      const parts = (rest + chunk.toString()).split("\n");
      rest = parts.pop() ?? "";
      for (const part of parts) onLine(part.endsWith("\r") ? part.slice(0, -1) : part);
    },
    end() {
      if (rest !== "") onLine(rest);
      rest = "";
    },
  };
}

export function spawnCommand(argv: readonly string[], opts: SpawnOptions): Promise<SpawnResult> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new Error("spawnCommand: empty command"));
  const command = [...argv];
  const tailMax = opts.tailLines ?? 30;
  if (opts.signal?.aborted)
    return Promise.reject(new CommandError({ command, logTail: [], cancelled: true }));
  return new Promise<SpawnResult>((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true, // its own process group, so cancellation reaches grandchildren too
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    if (child.pid !== undefined) trackGroup(child.pid);
    const tail: string[] = [];
    let diskFull: string | undefined;
    const push = (line: string, stream: OutputStream) => {
      if (diskFull === undefined && DISK_FULL.test(line)) diskFull = line;
      tail.push(line);
      if (tail.length > tailMax) tail.shift();
      opts.onLine?.(line, stream);
    };
    // The first line that says the disk is full stays in the tail (later output would push it out).
    const finalTail = () =>
      diskFull === undefined || tail.includes(diskFull) ? [...tail] : [diskFull, ...tail.slice(1)];
    let cancelled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      cancelled = true;
      killGroup(child.pid, "SIGTERM");
      killTimer = setTimeout(() => killGroup(child.pid, "SIGKILL"), KILL_GRACE_MS);
      killTimer.unref();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const stdout: Buffer[] = [];
    const out = lineSplitter((line) => push(line, "stdout"));
    const err = lineSplitter((line) => push(line, "stderr"));
    child.stdout!.on("data", (chunk: Buffer) => (opts.captureStdout ? stdout.push(chunk) : out.push(chunk)));
    child.stderr!.on("data", (chunk: Buffer) => err.push(chunk));
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on("error", () => {
        /* the command may not read its input */
      });
      child.stdin.end(opts.input);
    }
    let spawnError: Error | undefined;
    child.on("error", (e) => {
      spawnError = e;
    });
    child.on("exit", () => {
      // What is left of the group must not outlive the command; it would also keep its pipes open.
      if (child.pid === undefined) return;
      liveGroups.delete(child.pid);
      killGroup(child.pid, "SIGKILL");
    });
    child.on("close", (code, signal) => {
      opts.signal?.removeEventListener("abort", onAbort);
      if (killTimer) clearTimeout(killTimer);
      out.end();
      err.end();
      if (spawnError) {
        reject(new CommandError({ command, logTail: finalTail(), reason: spawnError.message }));
      } else if (cancelled) {
        reject(new CommandError({ command, logTail: finalTail(), cancelled: true }));
      } else if ((opts.check ?? true) && (code !== 0 || signal)) {
        reject(
          new CommandError({
            command,
            exitCode: code ?? undefined,
            signal: signal ?? undefined,
            logTail: finalTail(),
          }),
        );
      } else {
        const bytes = Buffer.concat(stdout);
        resolve({ exitCode: code ?? 128, stdout: bytes.toString(), stdoutBytes: bytes });
      }
    });
  });
}
