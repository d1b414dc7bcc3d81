// keepFailedWorkspaces (mkosi's --debug-workspace): a failed node's scratch directory survives for
// inspection and the failure says where; without the option it is removed.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openEngine } from "../../engine/index.js";
import { cleanup, fnTask, node, tempDir } from "./helpers.js";

describe("failed workspaces", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => {
    await cleanup(dir);
  });

  const failing = () => [
    node("broken", fnTask("broken"), {
      inputs: { values: { x: 1 } },
      run: async (ctx) => {
        await writeFile(join(ctx.tmp, "evidence"), "left behind");
        throw new Error("step failed");
      },
    }),
  ];

  it("keeps the workspace and names it", async () => {
    const engine = await openEngine({ cacheDir: join(dir, "kept"), keepFailedWorkspaces: true });
    try {
      const summary = await engine.run(failing());
      const message = summary.failures.broken?.message ?? "";
      const kept = /workspace kept at (\S+)\)/.exec(message)?.[1];
      expect(kept).toBeDefined();
      expect(readFileSync(join(kept!, "tmp", "evidence"), "utf8")).toBe("left behind");
    } finally {
      await engine.close();
    }
  });

  it("removes it by default", async () => {
    const engine = await openEngine({ cacheDir: join(dir, "removed") });
    try {
      const summary = await engine.run(failing());
      expect(summary.failures.broken?.message).toBe("step failed");
      expect(existsSync(join(dir, "removed", "tmp")) ? readdirSync(join(dir, "removed", "tmp")) : []).toEqual(
        [],
      );
    } finally {
      await engine.close();
    }
  });
});
