// What the pipeline needs to know beyond the image configs: where things live on this machine and what
// the command line asked for. Built once per invocation by the build verb.
import { createHash } from "node:crypto";
import { homedir } from "node:os";
import { join } from "node:path";
import { plainTerminal, type TerminalHandoff } from "../sandbox/run.js";
import { inUserNamespace } from "../sandbox/userns.js";
import type { ImageView } from "./image.js";

export interface BuildOptions {
  /** -f count. */
  force: number;
  rerunBuildScripts: boolean;
  wipeBuildDir: boolean;
  /** Arguments after `--`, passed to build scripts. */
  cmdline: string[];
  debug: boolean;
  /** --debug-shell: a failing command in the image opens an interactive shell where it ran. Never a
   * declared input: it changes what happens after a failure, not what a step produces. */
  debugShell: boolean;
  /** --check[=N]: after the build, re-execute cached steps (all, or N at random) and compare outputs. Not an
   * input of any step. */
  check?: boolean | number;
}

export interface PlanEnv {
  /** Engine cache root (LMDB index + artifacts). */
  cacheDir: string;
  /** Downloaded packages, shared between images and invocations. */
  packageCacheDir: string;
  /** Directory of the top-level configuration (mkosi's -C). */
  configDir: string;
  options: BuildOptions;
  /** $MKOSI_CONFIG text of an image: exactly one element of `summary --json`'s Images. */
  configJson(image: ImageView): string;
  /** JSON names of the secret settings (RootPassword, Passphrase, ...): steps that read them declare them
   * as secret inputs, which the cache keeps as keyed digests only and explain never shows. */
  secretSettings: readonly string[];
  /** uid/gid of the invoking user ($MKOSI_UID / $MKOSI_GID). */
  uid: number;
  gid: number;
  /** How a debug shell gets the terminal (the CLI pauses its progress view); default: plainTerminal. */
  terminal?: TerminalHandoff;
  /** The per-invocation random Seed= an image has when none is configured: steps that use the seed
   * (repart) key on it only when it is pinned. Undefined: every seed counts as pinned. */
  randomSeed?: string;
  /** The plan is only shown, not built (`mkosi graph`): checks of the host that a build makes before any
   * work (tool versions) are left out. */
  inspectOnly?: boolean;
}

const fallbackTerminal = plainTerminal();

/** The terminal handoff steps give to the commands they run when --debug-shell is on, else undefined. */
export function debugShellOf(env: PlanEnv): TerminalHandoff | undefined {
  return env.options.debugShell ? (env.terminal ?? fallbackTerminal) : undefined;
}

function xdgCache(): string {
  return process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
}

/** Engine cache directory: CacheDirectory= (or mkosi.cache/, resolved by config/) when set, else the
 * user's cache. All images of one invocation share it, so identical nodes are built once. */
export function defaultCacheDir(main: ImageView, unprivileged = inUserNamespace()): string {
  // Layers and file ownership look different from a user namespace (see sandbox/userns.ts), so an
  // unprivileged build never shares cache entries with a root build of the same CacheDirectory=.
  const name = unprivileged ? "graph-unprivileged" : "graph";
  return main.CacheDirectory ? join(main.CacheDirectory, name) : join(xdgCache(), "mkosi", name);
}

export function defaultPackageCacheDir(main: ImageView): string {
  return main.PackageCacheDirectory ?? join(xdgCache(), "mkosi", "packages");
}

/** Short stable digest for names derived from arbitrary strings. */
export function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}
