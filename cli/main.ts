// mkosi command-line entry point: parse argv, load the configuration, dispatch the verb.
import type { ParsedArgs } from "../config/args.js";
import { MKOSI_VERSION } from "../config/version.js";
import { escapeControl } from "./render/format.js";

/** Verbs that touch images, the cache or outputs: an unprivileged user runs them in a user namespace, so
 * that file ownership looks the same to every run that shares a cache. */
const NAMESPACE_VERBS = new Set([
  "build",
  "clean",
  "graph",
  "shell",
  "boot",
  "vm",
  "qemu",
  "burn",
  "sysupdate",
]);

/** Errors and warnings quote input (setting names, values, paths): control characters are escaped. */
function printError(msg: string): void {
  process.stderr.write(`‣ ${escapeControl(msg)}\n`);
}

export async function main(argv: string[]): Promise<number> {
  const { parseArgs, UsageError } = await import("./args.js");
  let parsed: Awaited<ReturnType<typeof parseArgs>>;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      if (err.exitCode === 2)
        process.stderr.write(`mkosi: error: ${err.message}\nTry 'mkosi --help' for more information.\n`);
      else printError(err.message);
      return err.exitCode;
    }
    throw err;
  }
  if (parsed.version) {
    process.stdout.write(`mkosi ${MKOSI_VERSION}\n`);
    return 0;
  }
  if (parsed.help) {
    process.stdout.write(parsed.program.helpInformation());
    return 0;
  }
  const args: ParsedArgs = parsed.args;
  if (NAMESPACE_VERBS.has(args.verb) && process.getuid?.() !== 0) {
    // An unprivileged user builds as root of a user namespace (see sandbox/userns.ts).
    const { USERNS_ENV, reexecInUserNamespace, userNamespaceProblem } = await import("../sandbox/userns.js");
    if (!process.env[USERNS_ENV]) {
      const problem = userNamespaceProblem();
      if (problem) {
        printError(problem);
        return 1;
      }
      return reexecInUserNamespace(process.argv.slice(1));
    }
  }
  if (args.verb === "completion") {
    const { runVerb } = await import("./verbs/index.js");
    return runVerb("completion", { config: { images: [], tools: null, args }, args });
  }
  const { loadConfig } = await import("../config/loader.js");
  const { ConfigError } = await import("../config/errors.js");
  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    config = await loadConfig(args, { warn: printError });
  } catch (err) {
    if (err instanceof ConfigError) {
      printError(err.describe());
      return err.exitCode;
    }
    const e = err as NodeJS.ErrnoException;
    if (e?.code && e.message) {
      printError(e.message);
      return 1;
    }
    throw err;
  }
  const { runVerb } = await import("./verbs/index.js");
  try {
    return await runVerb(args.verb, { config, args });
  } catch (err) {
    // Verbs report their own failures; anything reaching here is unexpected or bad input found late.
    // Say it in one line; --debug shows where it came from.
    const e = err as Error;
    const message = e?.message ?? String(err);
    // Node says "ENOSPC: no space left on device"; say it as the tools do.
    printError(/ENOSPC/.test(message) ? `${message} (No space left on device)` : message);
    if (args.debug && e?.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}
