// `mkosi clean`.
import { cleanCommand } from "../commands/clean.js";
import { commandInput } from "../commands/input.js";
import type { VerbContext } from "./index.js";

export const handler = (ctx: VerbContext): Promise<number> => cleanCommand(commandInput(ctx));
