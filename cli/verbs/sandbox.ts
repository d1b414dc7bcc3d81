// `mkosi sandbox [command…]`: a command with the tools tree's /usr.
import { mainMachine, reportRuntimeError } from "../commands/machine.js";
import type { VerbContext } from "./index.js";

export async function handler(ctx: VerbContext): Promise<number> {
  try {
    const { image } = mainMachine(ctx);
    const { runSandbox } = await import("../../runtime/sandbox.js");
    const toolsTree = image.ToolsTree;
    if (toolsTree === "default") {
      // The default tools tree lives in the engine's cache as a layer stack; mounting it outside a build
      // step needs the engine to hand out artifact directories, which it does not do yet.
      process.stderr.write(
        "‣ mkosi sandbox with ToolsTree=default is not supported yet: point ToolsTree= at a directory (e.g. mkosi.tools/)\n",
      );
      return 1;
    }
    return await runSandbox({
      toolsTree,
      certificates: image.ToolsTreeCertificates !== false,
      cmdline: ctx.args.cmdline,
      debug: ctx.args.debug,
    });
  } catch (error) {
    return reportRuntimeError(error);
  }
}
