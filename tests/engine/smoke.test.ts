import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, openEngine } from "../../engine/index.js";
import { cleanup, collector, fnTask, node, tempDir } from "./helpers.js";

describe("smoke", () => {
  let dir: string;
  let engine: Engine;
  beforeAll(async () => {
    dir = await tempDir();
    engine = await openEngine({ cacheDir: join(dir, "cache") });
  });
  afterAll(async () => {
    await engine.close();
    await cleanup(dir);
  });
  it("runs then caches", async () => {
    const src = join(dir, "src");
    await mkdir(src);
    await writeFile(join(src, "a"), "hello");
    const t = fnTask("copy");
    const u = fnTask("upper");
    const nodes = () => [
      node("a", t, {
        inputs: { paths: [["src", src]], values: { x: 1 } },
        run: async (ctx) => {
          await writeFile(join(ctx.out, "a"), await readFile(join(src, "a")));
          await ctx.exec("sh", ["-c", "echo hi; echo err >&2"]);
          return { meta: { n: 1 } };
        },
      }),
      node("b", u, {
        inputs: { deps: { a: "a" } },
        run: async (ctx) => {
          const s = await readFile(join(ctx.deps.a!.dir, "a"), "utf8");
          await writeFile(join(ctx.out, "b"), s.toUpperCase());
          return undefined;
        },
      }),
    ];
    const c = collector();
    const r = await engine.run(nodes(), { onEvent: c.onEvent });
    expect(r.ok).toBe(true);
    expect(r.ran.sort()).toEqual(["a", "b"]);
    expect(c.of("log").map((e) => e.line)).toEqual(expect.arrayContaining(["hi", "err"]));
    expect(await readFile(join(r.outputs.b!.dir, "b"), "utf8")).toBe("HELLO");
    const r2 = await engine.run(nodes());
    expect(r2.cached.sort()).toEqual(["a", "b"]);
    await writeFile(join(src, "a"), "world");
    const ex = await engine.explain(nodes());
    expect(ex.map((e) => e.status)).toEqual(["will-run", "pending-deps"]);
    const r3 = await engine.run(nodes());
    expect(r3.ran.sort()).toEqual(["a", "b"]);
  });
});
