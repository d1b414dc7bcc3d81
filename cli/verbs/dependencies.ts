// `mkosi dependencies [-- --profile NAME…]`: the Debian packages to install on this host.
import { parseArgs } from "../args.js";
import { reportRuntimeError } from "../commands/machine.js";
import type { VerbContext } from "./index.js";

export async function handler(ctx: VerbContext): Promise<number> {
  const { dependencyList, parseProfiles } = await import("../../runtime/dependencies.js");
  const { loadConfig } = await import("../../config/loader.js");
  try {
    const profiles = parseProfiles(ctx.args.cmdline);
    // The default tools tree's configuration for these profiles (on top of the user's configuration, so
    // its ToolsTreeDistribution= and friends count) says what mkosi runs.
    const { args } = parseArgs(
      ["--tools-tree=default", `--tools-tree-profile=${profiles.join(",")}`, "summary"],
      ctx.args.directory ?? process.cwd(),
    );
    const config = await loadConfig({ ...args, directory: ctx.args.directory });
    const packages = ((config.tools?.Packages as string[] | undefined) ?? []).filter((name) => name !== "");
    process.stdout.write(`${dependencyList(packages, profiles).join("\n")}\n`);
    return 0;
  } catch (error) {
    return reportRuntimeError(error);
  }
}
