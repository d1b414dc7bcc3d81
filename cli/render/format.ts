// Small formatting helpers shared by the progress renderers and the graph renderers. No dependencies,
// so the CLI can load them without paying for ink or react.

import type { NodeId } from "../../engine/api.js";

/** "350ms", "1.2s", "12.3s", "1m 02s", "1h 02m". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) {
    const s = ms / 1000;
    return `${s < 10 ? s.toFixed(1) : Math.round(s).toString()}s`;
  }
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 3600) {
    const m = Math.floor(totalSeconds / 60);
    const s = totalSeconds % 60;
    return `${m}m ${s.toString().padStart(2, "0")}s`;
  }
  const totalMinutes = Math.round(totalSeconds / 60);
  const h = Math.floor(totalMinutes / 60);
  const m = totalMinutes % 60;
  return `${h}h ${m.toString().padStart(2, "0")}m`;
}

const UNITS = ["B", "kB", "MB", "GB", "TB"];

/** Decimal units: "512 B", "1.2 MB", "820 MB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "?";
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  return `${value < 10 ? value.toFixed(1) : Math.round(value).toString()} ${UNITS[unit]}`;
}

/** First 12 hex digits of a key or digest. */
export function shortKey(key: string | undefined | null): string {
  if (!key) return "";
  const hex = key.startsWith("sha256:") ? key.slice(7) : key;
  return hex.slice(0, 12);
}

/** Default display pieces of a node id "main/packages" → group "main", label "packages". */
export function splitNodeId(id: NodeId): { group?: string; label: string } {
  const slash = id.lastIndexOf("/");
  if (slash <= 0) return { label: id };
  return { group: id.slice(0, slash), label: id.slice(slash + 1) };
}

/** Render a progress update compactly: "120/300 packages", "45 MB/120 MB", plus its message. */
export function formatProgress(update: {
  message?: string;
  current?: number;
  total?: number;
  unit?: "items" | "bytes" | "packages";
}): string {
  const parts: string[] = [];
  if (update.current !== undefined) {
    const fmt = update.unit === "bytes" ? formatBytes : (n: number) => String(n);
    let counter = fmt(update.current);
    if (update.total !== undefined && update.total > 0) {
      counter += `/${fmt(update.total)}`;
      const pct = Math.floor((100 * update.current) / update.total);
      counter += ` (${Math.min(100, Math.max(0, pct))}%)`;
    }
    if (update.unit === "packages") counter += " packages";
    else if (update.unit === "items") counter += " items";
    parts.push(counter);
  }
  if (update.message) parts.push(update.message);
  return parts.join(" · ");
}

/** Quote a command for display, shell-style, only where needed. */
export function formatCommand(argv: readonly string[]): string {
  return argv
    .map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(" ");
}

// ---------------------------------------------------------------------------------------------
// Color. A tiny ANSI helper (chalk is not a direct dependency). Callers decide whether to color:
// only when writing to a terminal.

export type Style = "red" | "green" | "yellow" | "blue" | "magenta" | "cyan" | "gray" | "bold" | "dim";

const CODES: Record<Style, [number, number]> = {
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
  gray: [90, 39],
  bold: [1, 22],
  dim: [2, 22],
};

export type Paint = (style: Style, text: string) => string;

export function painter(color: boolean): Paint {
  if (!color) return (_style, text) => text;
  return (style, text) => {
    const [open, close] = CODES[style];
    return `\u001b[${open}m${text}\u001b[${close}m`;
  };
}

/** Whether to use color for a stream: a TTY, unless NO_COLOR is set; FORCE_COLOR forces it. */
export function shouldColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0" && env.FORCE_COLOR !== "false") return true;
  if (env.TERM === "dumb") return false;
  return stream.isTTY === true;
}

const ANSI_RE = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI_RE, "");
}

/** Remove control characters (escape sequences, carriage returns) from a script's output line so it
 * cannot move the cursor or recolor our output. Tabs become spaces. */
export function sanitizeLine(line: string): string {
  return stripAnsi(line)
    .replace(/\t/g, "    ")
    .replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, "");
}

/** Control characters (C0 but newline and tab, DEL, C1) as \xNN: text that came from input (config files,
 * values) is shown, never interpreted by the terminal. */
export function escapeControl(text: string): string {
  return text.replace(
    /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/** Display width-insensitive padding (ASCII labels). */
export function pad(text: string, width: number): string {
  const visible = stripAnsi(text).length;
  return visible >= width ? text : text + " ".repeat(width - visible);
}

export function truncate(text: string, width: number): string {
  if (width <= 0) return "";
  if (text.length <= width) return text;
  if (width === 1) return "…";
  return `${text.slice(0, width - 1)}…`;
}
