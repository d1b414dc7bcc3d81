// The shape of one entry in the settings table. The parser, the CLI, summary, JSON and shell
// completion are all generated from these entries.
import type { ParseEnv, Parser } from "../values.js";

export type Scope = "universal" | "multiversal" | "inherit" | "main" | "tools" | "local";
export type Section =
  | "Include"
  | "Config"
  | "Distribution"
  | "Output"
  | "Content"
  | "Validation"
  | "Build"
  | "Runtime";

/**
 * How the value behaves when explicitly emptied: "list"/"dict" become empty, "optional" becomes null,
 * "value" falls back to the default.
 */
export type Kind = "list" | "dict" | "optional" | "value";

export interface DefaultCtx {
  /** Final value of another setting (by dest); computes and memoizes its default if needed. */
  get(dest: string): unknown;
  image: string;
  /** The resolved --directory (null with --directory=). */
  directory: string | null;
  env: Record<string, string | undefined>;
}

export interface MatchCtx extends ParseEnv {
  image: string;
}

export interface Setting<
  N extends string = string,
  Sc extends Scope = Scope,
  K extends Kind = Kind,
  T = unknown,
  Sh extends boolean = boolean,
> {
  /** ini key, also the JSON key (except for the settings that are `shadowed`). */
  name: N;
  /** Storage key; three dests are shared by two settings each. */
  dest: string;
  section: Section;
  scope: Sc;
  /** May be set in tools-tree configs. */
  tools: boolean;
  /** Long CLI options (first is canonical), without the leading "--". */
  long: string[];
  short?: string;
  /** For short flags without argument: the value they assign (-a → yes). */
  shortConst?: string;
  /** Long option's argument is optional (value used when omitted). */
  optionalArgConst?: string;
  parse: Parser<T>;
  kind: K;
  /** A later setting shares this one's dest and gives the JSON key (KernelModulesInclude= and
   * KernelModules=, …): this one has no field of its own in an image's configuration. */
  shadowed: Sh;
  /** Static default (already in JSON form). */
  default?: unknown;
  defaultFactory?: (ctx: DefaultCtx) => unknown;
  match?: (actual: unknown, value: string, ctx: MatchCtx) => boolean;
  specifier?: string;
  /** Default paths: mkosi.<suffix> in every parsed config directory. */
  paths?: string[];
  /** Globs like "build.d/*" (matches parsed in sorted order). */
  recursivePaths?: string[];
  /** The default path's content (read, or run if executable) is the value. */
  readText?: boolean;
  /** Default-path file must not be world-accessible. */
  secret?: boolean;
  compatNames?: string[];
  metavar?: string;
  help?: string;
  choices?: readonly string[];
}
