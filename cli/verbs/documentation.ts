// `mkosi documentation [manual]`: the man page, in the --doc-format= asked for.
import { reportRuntimeError } from "../commands/machine.js";
import type { VerbContext } from "./index.js";

export async function handler(ctx: VerbContext): Promise<number> {
  const { documentation } = await import("../../runtime/documentation.js");
  try {
    if (ctx.args.cmdline.length > 1) {
      process.stderr.write(`‣ documentation takes one manual name, got ${ctx.args.cmdline.join(" ")}\n`);
      return 1;
    }
    return documentation(ctx.args.cmdline[0], ctx.args.docFormat, ctx.args.pager);
  } catch (error) {
    return reportRuntimeError(error);
  }
}
