import { readFileSync } from "node:fs";
import type { VerbContext } from "./index.js";

export async function handler({ config }: VerbContext): Promise<number> {
  const chunks: string[] = [];
  const all = [...(config.tools ? [config.tools] : []), ...config.images];
  const seen = new Set<string>();
  for (const image of all) {
    for (const f of image.Files) {
      if (seen.has(f)) continue;
      seen.add(f);
      let text: string;
      try {
        text = readFileSync(f, "utf8");
      } catch {
        continue;
      }
      chunks.push(`# ${f}\n${text.endsWith("\n") || text === "" ? text : `${text}\n`}`);
    }
  }
  process.stdout.write(chunks.join("\n"));
  return 0;
}
