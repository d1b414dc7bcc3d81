// Running a chain of host tools connected by pipes (`tar … | zstd …  > file`), written to a temporary
// file next to the destination and renamed into place only when every stage succeeded: a failed or
// cancelled run never leaves a partial file under the destination's name. Failures are the CommandError
// of every command (engine/command.ts), which also runs the single commands here (runCapture).
import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { CommandError, spawnCommand } from "../engine/command.js";
import type { RunOptions } from "./types.js";

export interface PipelineOptions extends RunOptions {
  /** Bytes written to the first stage's stdin. */
  input?: Buffer | string;
  /** A file whose content is the first stage's stdin (instead of `input`). */
  stdinFile?: string;
  /** Working directory (runCapture). */
  cwd?: string;
}

/** A temporary name in the same directory as `dest` (so that a rename into place is atomic). */
export function siblingTempPath(dest: string, tag = "tmp"): string {
  return join(dirname(dest), `.${basename(dest)}.${tag}-${process.pid}-${randomBytes(4).toString("hex")}`);
}

interface StageResult {
  argv: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  spawnError?: Error;
}

/** The error of a failed stage: the CommandError of every command (engine/command.ts). */
function stageError(r: StageResult): CommandError {
  const logTail = r.stderr.trim() === "" ? [] : r.stderr.trim().split("\n").slice(-20);
  if (r.spawnError) {
    const code = (r.spawnError as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? `${r.argv[0]} not found` : r.spawnError.message;
    return new CommandError({ command: r.argv, logTail, reason });
  }
  return new CommandError({
    command: r.argv,
    exitCode: r.code ?? undefined,
    signal: r.signal ?? undefined,
    logTail,
  });
}

/**
 * Runs `stages` as a pipeline whose last stdout goes to `dest` (atomically, via a temporary sibling).
 * Rejects with a CommandError naming the failing stage and its stderr tail.
 */
export async function runPipelineToFile(
  stages: string[][],
  dest: string,
  opts: PipelineOptions = {},
): Promise<void> {
  if (stages.length === 0) throw new Error("runPipelineToFile: no stages");
  if (opts.signal?.aborted) throw new CommandError({ command: stages[0]!, logTail: [], cancelled: true });
  const tmp = siblingTempPath(dest);
  const outFd = openSync(tmp, "w", 0o644);
  const inFd = opts.stdinFile !== undefined ? openSync(opts.stdinFile, "r") : undefined;
  const children: ChildProcess[] = [];
  const results: Promise<StageResult>[] = [];
  let aborted = false;
  const onAbort = () => {
    aborted = true;
    for (const c of children) c.kill("SIGTERM");
  };
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    let prev: ChildProcess | undefined;
    stages.forEach((argv, i) => {
      const last = i === stages.length - 1;
      const stdin =
        i > 0
          ? (prev?.stdout ?? "ignore")
          : inFd !== undefined
            ? inFd
            : opts.input !== undefined
              ? "pipe"
              : "ignore";
      const stdio = [stdin, last ? outFd : "pipe", "pipe"] as StdioOptions;
      const child = spawn(argv[0]!, argv.slice(1), {
        stdio,
        env: (opts.env ?? process.env) as NodeJS.ProcessEnv,
      });
      children.push(child);
      results.push(
        new Promise<StageResult>((resolve) => {
          let stderr = "";
          child.stderr?.on("data", (d: Buffer) => {
            stderr = (stderr + d.toString("utf8")).slice(-4000);
          });
          child.on("error", (err) => resolve({ argv, code: null, signal: null, stderr, spawnError: err }));
          child.on("close", (code, signal) => resolve({ argv, code, signal, stderr }));
        }),
      );
      if (i === 0 && opts.input !== undefined && child.stdin) {
        child.stdin.on("error", () => {
          /* EPIPE when the tool exits early: its exit status tells what happened */
        });
        child.stdin.end(opts.input);
      }
      // The next stage has its own copy of the pipe: drop ours, or the producer's 'close' never comes.
      if (i > 0) prev?.stdout?.destroy();
      prev = child;
    });
  } finally {
    closeSync(outFd);
    if (inFd !== undefined) closeSync(inFd);
  }
  const done = await Promise.all(results);
  opts.signal?.removeEventListener("abort", onAbort);
  const failed = done.filter((r) => r.spawnError || r.code !== 0);
  if (aborted || failed.length > 0) {
    await rm(tmp, { force: true });
    if (aborted)
      throw new CommandError({
        command: stages.flatMap((s, i) => (i ? ["|", ...s] : s)),
        logTail: [],
        cancelled: true,
      });
    // A stage killed by SIGPIPE only reports that a later stage died: name the real culprit.
    const culprit = failed.find((r) => r.signal !== "SIGPIPE") ?? failed[0]!;
    throw stageError(culprit);
  }
  await rename(tmp, dest);
}

/** Runs one command (engine/command.ts) and returns its stdout; rejects with the CommandError of all
 * commands on failure. */
export async function runCapture(argv: string[], opts: PipelineOptions = {}): Promise<Buffer> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env ?? process.env)) if (v !== undefined) env[k] = v;
  const { stdoutBytes } = await spawnCommand(argv, {
    env,
    cwd: opts.cwd,
    signal: opts.signal,
    input: opts.input,
    captureStdout: true,
  });
  return stdoutBytes;
}
