// `mkosi init`: the tmpfiles.d drop-in that ages out mkosi's cache.
import type { VerbContext } from "./index.js";

export async function handler(_ctx: VerbContext): Promise<number> {
  const { init } = await import("../../runtime/init.js");
  return init();
}
