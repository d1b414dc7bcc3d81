// Command-line parsing with commander. Every setting's options are generated from the settings
// table; values are collected in command-line order and parsed later by the config loader.
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { Command, CommanderError, Option } from "commander";
import type { CliAssignment, ParsedArgs } from "../config/args.js";
import { DOC_FORMATS, VERBS, VERBS_WITH_CMDLINE } from "../config/enums.js";
import { SETTINGS } from "../config/settings/index.js";

const GRAPH_FORMATS = ["text", "dot", "json", "mermaid"];

export class UsageError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export interface ParseResult {
  args: ParsedArgs;
  help: boolean;
  version: boolean;
  program: Command;
}

const SECTION_TITLES: Record<string, string> = {
  Include: "Include",
  Config: "Config",
  Distribution: "Distribution",
  Output: "Output",
  Content: "Content",
  Validation: "Validation",
  Build: "Build",
  Runtime: "Runtime (previously Host)",
};

/** `--check` alone: every cached step; `--check=N`: N chosen at random. */
function parseCheck(value: unknown): boolean | number {
  if (value === undefined || value === false) return false;
  if (value === true) return true;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--check: expected a positive number, got ${String(value)}`);
  return n;
}

export function buildProgram(state: {
  assignments: CliAssignment[];
  cwd: { value: string };
  directory: { value: string | null; set: boolean };
}): Command {
  const p = new Command("mkosi");
  p.exitOverride();
  p.passThroughOptions();
  p.allowExcessArguments(true);
  p.helpOption(false);
  p.configureOutput({ writeErr: () => {}, writeOut: (s) => process.stdout.write(s) });
  p.usage("[options…] {build,clean,summary,cat-config,shell,boot,vm,ssh,…} [-- command line…]");
  p.description("mkosi — Build Bespoke OS Images");
  p.argument("[verb]", `Verb to run: ${VERBS.join(", ")} (default: build)`);
  p.argument("[cmdline...]", "Arguments passed to the verb (after the verb or after --)");

  const flag = (flags: string, desc: string) => p.addOption(new Option(flags, desc));
  p.addOption(
    new Option("-f, --force", "Remove existing image file before operation (repeat for more)")
      .argParser((_v: string, prev: number) => prev + 1)
      .default(0),
  );
  p.addOption(
    new Option("-C, --directory <path>", "Change to specified directory before doing anything").argParser(
      (v: string) => {
        if (v === "") {
          state.directory.value = null;
        } else {
          const d = resolve(state.cwd.value, v);
          if (!isDirectory(d)) throw new UsageError(`${v} is not a directory!`, 1);
          state.cwd.value = d;
          state.directory.value = d;
        }
        state.directory.set = true;
        return v;
      },
    ),
  );
  flag("--debug", "Turn on debugging output");
  flag("--debug-shell", "Spawn an interactive shell in the image if a chroot command fails");
  flag("--debug-workspace", "When an error occurs, the workspace directory will not be deleted");
  flag("--debug-sandbox", "Run mkosi-sandbox with strace");
  flag("--no-pager", "Enable paging for long output");
  p.addOption(
    new Option(
      "--genkey-valid-days <days>",
      "Number of days keys should be valid when generating keys",
    ).default("730"),
  );
  p.addOption(
    new Option("--genkey-common-name <cn>", "Template for the CN when generating keys").default(""),
  );
  flag("-B, --auto-bump", "Automatically bump image version after building");
  p.addOption(
    new Option("--doc-format <format>", "The format to show documentation in")
      .choices(DOC_FORMATS)
      .default("auto"),
  );
  flag("--json", "Show summary as JSON");
  flag("-w, --wipe-build-dir", "Remove the build directory before building the image");
  flag("-R, --rerun-build-scripts", "Run build scripts even if the image is not rebuilt");
  flag("--explain", "Before building, print which steps will run and why");
  p.addOption(new Option("--trace <file>", "Write a Chrome trace of the build (open in Perfetto)"));
  // `--check` or `--check=N`: the count only with "=", so that `--check build` leaves the verb alone.
  flag(
    "--check",
    "build: run cached steps again (--check=N: N at random) and report those whose output differs",
  );
  p.addOption(new Option("--check-count <count>").hideHelp());
  p.addOption(
    new Option("--why <node>", "graph: explain in full why one step will run (e.g. main/packages)"),
  );
  p.addOption(
    new Option(
      "--cache-remote <url>",
      "Also read the cache from this OCI registry repository (MKOSI_CACHE_REMOTE)",
    ),
  );
  flag("--cache-push", "Upload what the remote cache lacks (with --cache-remote)");
  p.addOption(
    new Option(
      "--cache-secret-key <file>",
      "Key for the digests of secrets; share it with the remote cache's users",
    ),
  );
  flag("-h, --help", "Show this help");
  flag("--version", "Show package version");
  p.addOption(new Option("--nspawn-keep-unit").hideHelp());
  p.addOption(new Option("--default <path>").hideHelp());
  p.addOption(new Option("--cache <path>").hideHelp());

  const usedShorts = new Set(["f", "C", "B", "w", "R", "h"]);
  for (const s of SETTINGS) {
    const record = (option: string) => (v: string | undefined) => {
      state.assignments.push({
        setting: s,
        value: v ?? s.optionalArgConst ?? "",
        cwd: state.cwd.value,
        option,
      });
      return v;
    };
    const metavar = s.metavar ?? "VALUE";
    s.long.forEach((long, i) => {
      let flags = `--${long} ${s.optionalArgConst ? `[${metavar}]` : `<${metavar}>`}`;
      if (i === 0 && s.short && !s.shortConst && !usedShorts.has(s.short)) {
        flags = `-${s.short}, ${flags}`;
        usedShorts.add(s.short);
      }
      const desc =
        i === 0 ? `${s.help ?? `Set ${s.name}=`} [${SECTION_TITLES[s.section]}]` : `Alias of --${s.long[0]}`;
      const o = new Option(flags, desc).argParser(record(long));
      if (i > 0) o.hideHelp();
      p.addOption(o);
      if (s.optionalArgConst) {
        // commander does not call the parser when an optional value is omitted.
        p.on(`option:${o.attributeName()}`, (v: unknown) => {
          if (v === undefined || v === null || v === true) record(long)(undefined);
        });
      }
    });
    if (s.short && s.shortConst) {
      const c = s.shortConst;
      p.addOption(
        new Option(`-${s.short}`, `Shortcut for --${s.long[0]}=${c}`).argParser(() => {
          state.assignments.push({ setting: s, value: c, cwd: state.cwd.value, option: s.long[0] as string });
          return c;
        }),
      );
    }
  }
  return p;
}

export function parseArgs(argv: string[], cwd = process.cwd()): ParseResult {
  const state = {
    assignments: [] as CliAssignment[],
    cwd: { value: cwd },
    directory: { value: cwd as string | null, set: false },
  };
  const program = buildProgram(state);
  // Up to the first "--" (after it, arguments belong to the build scripts).
  const end = argv.indexOf("--") < 0 ? argv.length : argv.indexOf("--");
  const rewritten = argv.flatMap((arg, i) =>
    i < end && arg.startsWith("--check=") ? ["--check-count", arg.slice("--check=".length)] : [arg],
  );
  try {
    program.parse(rewritten, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) throw new UsageError(err.message.replace(/^error: /, ""));
    throw err;
  }
  const o = program.opts<Record<string, unknown>>();
  const positional = [...program.args];
  let verb = "build";
  let cmdline: string[] = [];
  if (positional.length > 0 && positional[0] !== "--") {
    verb = positional.shift() as string;
    if (!(VERBS as readonly string[]).includes(verb))
      throw new UsageError(`argument verb: invalid choice: '${verb}' (choose from ${VERBS.join(", ")})`);
  }
  cmdline = positional;
  if (cmdline[0] === "--") cmdline = cmdline.slice(1);
  // `mkosi graph --why NODE` / `mkosi graph --format=dot`: options after our own verb are options.
  if (verb === "graph" && cmdline.length > 0 && argv.lastIndexOf("graph") >= 0) {
    const at = argv.lastIndexOf("graph");
    return parseArgs([...argv.slice(0, at), ...argv.slice(at + 1), "graph"], cwd);
  }
  if (cmdline.length > 0 && !VERBS_WITH_CMDLINE.has(verb))
    throw new UsageError(
      `Arguments after verb are not supported for ${verb} (got ${cmdline.join(" ")}); put options before the verb`,
    );
  const args: ParsedArgs = {
    verb,
    cmdline,
    force: (o.force as number) ?? 0,
    directory: state.directory.value,
    debug: Boolean(o.debug),
    debugShell: Boolean(o.debugShell),
    debugWorkspace: Boolean(o.debugWorkspace),
    debugSandbox: Boolean(o.debugSandbox),
    pager: o.pager !== false,
    genkeyValidDays: String(o.genkeyValidDays ?? "730"),
    genkeyCommonName: String(o.genkeyCommonName ?? ""),
    autoBump: Boolean(o.autoBump),
    docFormat: String(o.docFormat ?? "auto"),
    json: Boolean(o.json),
    wipeBuildDir: Boolean(o.wipeBuildDir),
    rerunBuildScripts: Boolean(o.rerunBuildScripts),
    explain: Boolean(o.explain),
    trace: o.trace ? resolve(cwd, String(o.trace)) : null,
    why: o.why ? String(o.why) : null,
    check: parseCheck(o.checkCount ?? o.check),
    graphFormat: "text",
    cacheRemote: o.cacheRemote !== undefined ? String(o.cacheRemote) : null,
    cachePush: Boolean(o.cachePush),
    cacheSecretKey: o.cacheSecretKey !== undefined ? resolve(cwd, String(o.cacheSecretKey)) : null,
    assignments: state.assignments,
  };
  // `mkosi graph --format=dot`: --format names the graph's format there (text, dot, json, mermaid never
  // collide with an output format), while `--format=tar graph` still sets Format=.
  if (verb === "graph") {
    args.assignments = args.assignments.filter((a) => {
      if (a.setting.name !== "Format" || !GRAPH_FORMATS.includes(a.value)) return true;
      args.graphFormat = a.value;
      return false;
    });
  }
  return { args, help: Boolean(o.help) || verb === "help", version: Boolean(o.version), program };
}
