// `mkosi clean`: remove outputs; -f also this configuration's cache entries and the build directory;
// -ff also the package cache (upstream's meaning of the force levels for clean).
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { unmountStaleMounts } from "../../engine/fsutil.js";
import { outputPaths } from "../../tasks/outputs.js";
import { planBuild } from "../../tasks/plan.js";
import { type CommandInput, openCache, planEnv } from "./session.js";

export async function cleanCommand(input: CommandInput): Promise<number> {
  const env = planEnv(input);
  // Builds killed where mkosi had no mount namespace of its own leave overlays mounted in the cache:
  // detach them, so the cache can be removed.
  unmountStaleMounts(env.cacheDir);
  for (const image of input.images) {
    for (const path of outputPaths(image, input.directory)) await rm(path, { recursive: true, force: true });
  }
  if (input.force >= 1) {
    const engine = await openCache(env);
    try {
      const plan = planBuild(input.images, env, input.tools, input.initrds);
      const forgotten = await engine.forget(plan.nodes.map((node) => node.id));
      process.stderr.write(`‣ Removed ${forgotten} cache entries\n`);
    } finally {
      await engine.close();
    }
    for (const image of input.images) {
      if (!image.BuildDirectory) continue;
      for (const entry of await readdir(image.BuildDirectory).catch(() => [] as string[]))
        await rm(join(image.BuildDirectory, entry), { recursive: true, force: true });
    }
  }
  if (input.force >= 2) await rm(env.packageCacheDir, { recursive: true, force: true });
  return 0;
}
