// Helpers for the safety suite: small Distribution=custom trees (tests/e2e/helpers.ts) built through the
// real bin/mkosi, plus what the safety checks need (the names of leftover temporary directories, mounts).
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { childEnv, MKOSI, type Tree } from "../e2e/helpers.js";

export * from "../e2e/helpers.js";

/** Entries of the system temporary directory whose name starts with `prefix`. */
export function tempEntries(prefix: string): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith(prefix));
}

/** Mount points at or below `dir` in the test's (the host's) mount namespace. */
export function hostMountsUnder(dir: string): string[] {
  return mountsOf("self")
    .map((m) => m.point)
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

/** Mount points (with their options) in the mount namespace of process `pid`. */
export function mountsOf(pid: number | "self"): { point: string; options: string; fstype: string }[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/mountinfo`, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(" ");
      const dash = fields.indexOf("-");
      return {
        point: unescapeMountinfo(fields[4] ?? ""),
        options: fields[5] ?? "",
        fstype: fields[dash + 1] ?? "",
      };
    });
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Polls `probe` every 100 ms until it returns something, for at most `seconds` (then throws). */
export async function waitFor<T>(what: string, seconds: number, probe: () => T | undefined): Promise<T> {
  for (let i = 0; i < seconds * 10; i++) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** A `mkosi build` started in the background: its process and a promise of its exit. */
export function startBuild(
  tree: Tree,
  extraEnv: Record<string, string | undefined> = {},
): { child: ChildProcess; exited: Promise<number | null>; output: () => string } {
  const child = spawn(MKOSI, ["build"], {
    cwd: tree.dir,
    env: childEnv(tree, extraEnv),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (output += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d));
  const exited = new Promise<number | null>((res) => child.on("close", (code) => res(code)));
  return { child, exited, output: () => output };
}
