// `mkosi serve`: the output directory over HTTP (port 8081).
import { withMachine } from "../commands/machine.js";
import type { VerbContext } from "./index.js";

export const handler = (ctx: VerbContext): Promise<number> =>
  withMachine(ctx, { build: true }, async (machine) => {
    const { serve } = await import("../../runtime/serve.js");
    return serve(machine);
  });
