// Helpers for the safety suite: small Distribution=custom trees (tests/e2e/helpers.ts) built through the
// real bin/mkosi, plus what the safety checks need (the names of leftover temporary directories, mounts).
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";

export * from "../e2e/helpers.js";

/** Entries of the system temporary directory whose name starts with `prefix`. */
export function tempEntries(prefix: string): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith(prefix));
}

/** Mount points at or below `dir` in the test's (the host's) mount namespace. */
export function hostMountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .map((p) => p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}
