// Running a machine (nspawn, qemu, ssh, …) in the foreground: it gets mkosi's terminal, its exit status
// becomes the verb's, and whatever happens to it or to mkosi, the terminal is left usable and the
// cleanups registered for the run still happen.
//
// - The child stays in the terminal's foreground process group, so Ctrl-C reaches it (and mkosi, which
//   ignores SIGINT while the child runs: the child decides what Ctrl-C means). SIGTERM and SIGHUP sent to
//   mkosi are passed on to the child.
// - `setpriv --pdeathsig SIGTERM` makes the kernel send the child SIGTERM if mkosi dies (even by
//   SIGKILL), so a container or VM never outlives the mkosi that started it.
// - The terminal's settings are saved before (`stty -g`) and restored afterwards: qemu and nspawn put the
//   terminal in raw mode and leave it that way if they are killed.
import { spawn, spawnSync } from "node:child_process";
import { constants } from "node:os";
import { findTool } from "./tools.js";

export interface ForegroundOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdin of the child: the terminal (default) or nothing. */
  stdin?: "inherit" | "ignore";
  /** Print the command line first (--debug). */
  debug?: boolean;
}

function saveTerminal(): string | null {
  if (!process.stdin.isTTY) return null;
  const r = spawnSync("stty", ["-g"], { stdio: ["inherit", "pipe", "ignore"], encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

function restoreTerminal(saved: string | null): void {
  if (saved === null) return;
  spawnSync("stty", [saved], { stdio: ["inherit", "ignore", "ignore"] });
}

/** The exit status of a child as a shell reports it: its code, or 128 + the signal's number. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal ? constants.signals[signal] : undefined;
  return 128 + (number ?? 1);
}

/** Runs `argv` in the foreground and resolves with its exit status. */
export function runForeground(argv: readonly string[], options: ForegroundOptions = {}): Promise<number> {
  const [file, ...rest] = argv;
  if (!file) return Promise.reject(new Error("runForeground: empty command"));
  const setpriv = findTool("setpriv");
  const command = setpriv ? [setpriv, "--pdeathsig", "SIGTERM", "--", file, ...rest] : [file, ...rest];
  if (options.debug) process.stderr.write(`‣ + ${argv.join(" ")}\n`);
  const saved = saveTerminal();
  return new Promise<number>((resolvePromise, reject) => {
    const child = spawn(command[0] as string, command.slice(1), {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.stdin ?? "inherit", "inherit", "inherit"],
    });
    const ignore = () => undefined;
    const forward = (signal: NodeJS.Signals) => () => {
      child.kill(signal);
    };
    const onTerm = forward("SIGTERM");
    const onHup = forward("SIGHUP");
    process.on("SIGINT", ignore);
    process.on("SIGTERM", onTerm);
    process.on("SIGHUP", onHup);
    const done = () => {
      process.off("SIGINT", ignore);
      process.off("SIGTERM", onTerm);
      process.off("SIGHUP", onHup);
      restoreTerminal(saved);
    };
    child.on("error", (error) => {
      done();
      reject(error);
    });
    child.on("close", (code, signal) => {
      done();
      resolvePromise(exitStatus(code, signal));
    });
  });
}
