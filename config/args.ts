// The parsed command line (verb, CLI-only options, ordered setting assignments). Produced by
// cli/args.ts, consumed by the loader and by verbs.
import type { Setting } from "./settings/types.js";

export interface CliAssignment {
  setting: Setting;
  /** Raw value as given ("" for an empty assignment). */
  value: string;
  /** Directory relative paths resolve against (the cwd at that point of the command line). */
  cwd: string;
  /** The option as spelled by the user, for error messages. */
  option: string;
}

export interface ParsedArgs {
  verb: string;
  cmdline: string[];
  force: number;
  /** Resolved --directory; null when --directory= (empty) was given. */
  directory: string | null;
  debug: boolean;
  debugShell: boolean;
  debugWorkspace: boolean;
  debugSandbox: boolean;
  pager: boolean;
  genkeyValidDays: string;
  genkeyCommonName: string;
  autoBump: boolean;
  docFormat: string;
  json: boolean;
  wipeBuildDir: boolean;
  rerunBuildScripts: boolean;
  /** Ours, not upstream's (not in the Args JSON): build --explain, build --trace FILE, graph --why NODE,
   * and graph's output format (`mkosi graph --format=dot`). */
  explain: boolean;
  trace: string | null;
  why: string | null;
  /** `--check[=N]` (build): re-execute cached steps (all, or N chosen at random) and compare outputs. */
  check: boolean | number;
  graphFormat: string;
  /** Ours: the remote cache (cli/commands/remote.ts). */
  cacheRemote: string | null;
  cachePush: boolean;
  cacheSecretKey: string | null;
  /** Setting options in command-line order. */
  assignments: CliAssignment[];
}

export function defaultArgs(overrides: Partial<ParsedArgs> = {}): ParsedArgs {
  return {
    verb: "build",
    cmdline: [],
    force: 0,
    directory: process.cwd(),
    debug: false,
    debugShell: false,
    debugWorkspace: false,
    debugSandbox: false,
    pager: true,
    genkeyValidDays: "730",
    genkeyCommonName: "",
    autoBump: false,
    docFormat: "auto",
    json: false,
    wipeBuildDir: false,
    rerunBuildScripts: false,
    explain: false,
    trace: null,
    why: null,
    check: false,
    graphFormat: "text",
    cacheRemote: null,
    cachePush: false,
    cacheSecretKey: null,
    assignments: [],
    ...overrides,
  };
}

/** The Args object as upstream serializes it (keys in JSON form). */
export function argsToJson(args: ParsedArgs): Record<string, unknown> {
  return {
    AutoBump: args.autoBump,
    Cmdline: args.cmdline,
    Debug: args.debug,
    DebugSandbox: args.debugSandbox,
    DebugShell: args.debugShell,
    DebugWorkspace: args.debugWorkspace,
    Directory: args.directory,
    DocFormat: args.docFormat,
    Force: args.force,
    GenkeyCommonName: args.genkeyCommonName,
    GenkeyValidDays: args.genkeyValidDays,
    Json: args.json,
    Pager: args.pager,
    RerunBuildScripts: args.rerunBuildScripts,
    Verb: args.verb,
    WipeBuildDir: args.wipeBuildDir,
  };
}
