import { summaryJson } from "../../config/json.js";
import { renderSummary } from "../summary.js";
import type { VerbContext } from "./index.js";

export async function handler({ config, args }: VerbContext): Promise<number> {
  if (args.json) process.stdout.write(`${summaryJson(config)}\n`);
  else process.stdout.write(renderSummary(config, { color: process.stdout.isTTY === true }));
  return 0;
}
