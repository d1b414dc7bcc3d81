// `mkosi bump`.
import { bumpVersion } from "../commands/bump.js";
import type { VerbContext } from "./index.js";

export const handler = (ctx: VerbContext): Promise<number> => bumpVersion(ctx);
