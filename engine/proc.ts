// Process identity with liveness checks that survive pid reuse: a pid plus its start time from /proc.

import { readFileSync } from "node:fs";
import { hostname } from "node:os";

export interface Owner {
  pid: number;
  /** Start time of the process (clock ticks since boot, field 22 of /proc/<pid>/stat). */
  start: string;
  host: string;
  /** Unique per engine instance, so two engines in one process never mistake each other. */
  token: string;
}

export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[19];
  } catch {
    return undefined;
  }
}

const host = hostname();
const selfStart = processStartTime(process.pid) ?? "0";

/** Tokens of the engines open in this process: a record of this process with another token is stale. */
const liveTokens = new Set<string>();

export function makeOwner(token: string): Owner {
  liveTokens.add(token);
  return { pid: process.pid, start: selfStart, host, token };
}

export function retireOwner(owner: Owner): void {
  liveTokens.delete(owner.token);
}

/** True unless the owner is a process of this host that is certainly gone. */
export function isAlive(owner: Owner): boolean {
  if (owner.host !== host) return true;
  if (owner.pid === process.pid && owner.start === selfStart) return liveTokens.has(owner.token);
  const start = processStartTime(owner.pid);
  return start !== undefined && start === owner.start;
}

export function sameOwner(a: Owner, b: Owner): boolean {
  return a.pid === b.pid && a.start === b.start && a.host === b.host && a.token === b.token;
}
