import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type EngineImpl, type NodeSpec, openEngine } from "../../engine/index.js";
import { cleanup, type FnParams, fnTask, node, tempDir } from "./helpers.js";

const isRoot = process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const KB = 1024;

/** A node writing `size` bytes of content unique to `id`/`v`. */
function blob(id: string, size: number, v = 0, extra: Partial<FnParams> = {}): NodeSpec {
  return node(id, fnTask("blob"), {
    inputs: { values: { id, v, size } },
    run: async (ctx) => {
      await writeFile(join(ctx.out, "data"), Buffer.alloc(size, `${id}${v}`));
      return undefined;
    },
    ...extra,
  });
}

describe("artifact store and gc", () => {
  let dir: string;
  let engine: EngineImpl;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await engine?.close();
    await cleanup(dir);
  });

  const artifacts = () => readdirSync(join(dir, "cache/artifacts")).sort();

  it("evicts least-recently-used entries to stay under the size bound, never refusing new ones", async () => {
    engine = await openEngine({ cacheDir: join(dir, "cache"), maxBytes: 350 * KB, lruRefreshMs: 0 });
    const keys: Record<string, string> = {};
    for (const id of ["a", "b", "c"]) {
      const r = await engine.run([blob(id, 100 * KB)]);
      keys[id] = r.outputs[id]!.key;
      await sleep(5);
    }
    // "a" is used again: "b" is now the least recently used.
    await engine.run([blob("a", 100 * KB)]);
    await sleep(5);
    const r = await engine.run([blob("d", 100 * KB)]);
    expect(r.ok).toBe(true);
    await sleep(50); // eviction runs after the commit
    const left = artifacts();
    expect(left).not.toContain(keys.b);
    expect(left).toContain(keys.a);
    expect(left).toContain(r.outputs.d!.key);
    const ex = await engine.explain([blob("b", 100 * KB)]);
    expect(ex[0]).toMatchObject({ status: "will-run", reason: "not-in-cache" });
    // An entry larger than the whole bound is still stored.
    const big = await engine.run([blob("huge", 500 * KB)]);
    expect(big.ok).toBe(true);
    expect(existsSync(big.outputs.huge!.dir)).toBe(true);
  });

  it("keeps artifacts that a live artifact retains (lower layers)", async () => {
    engine = await openEngine({ cacheDir: join(dir, "cache"), lruRefreshMs: 0 });
    const lower = blob("lower", 100 * KB);
    const upper = node("upper", fnTask("upper"), {
      inputs: { deps: { lower: "lower" } },
      run: async (ctx) => {
        await writeFile(join(ctx.out, "u"), "upper");
        return { retain: [ctx.deps.lower!.key] };
      },
    });
    const r = await engine.run([lower, upper]);
    await sleep(5);
    await engine.run([blob("newer", 100 * KB)]);
    await sleep(5);
    await engine.run([upper, lower]); // used again: "newer" is now the least recently used
    // Bound allows one 100K entry plus the small upper: the lower and upper stay, "newer" goes.
    const g = await engine.gc({ maxBytes: 120 * KB });
    expect(g.removedEntries).toBe(1);
    expect(existsSync(r.outputs.lower!.dir)).toBe(true);
    expect(existsSync(r.outputs.upper!.dir)).toBe(true);
    // Once the upper is gone, the lower can go.
    const g2 = await engine.gc({ maxBytes: 0 });
    expect(g2.remainingBytes).toBe(0);
    expect(artifacts()).toEqual([]);
  });

  it("forget drops every output of a node identity and the artifacts built on them", async () => {
    engine = await openEngine({ cacheDir: join(dir, "cache") });
    await engine.run([blob("x", 10, 1)]);
    await engine.run([blob("x", 10, 2)]);
    const lower = blob("x", 10, 3);
    const upper = node("up", fnTask("up"), {
      inputs: { deps: { x: "x" } },
      run: async (ctx) => ({ retain: [ctx.deps.x!.key] }),
    });
    const keep = await engine.run([blob("keep", 10), lower, upper]);
    expect(await engine.forget(["x"])).toBe(4);
    expect(artifacts()).toEqual([keep.outputs.keep!.key]);
    expect(engine.history("x").length).toBe(3);
  });

  it("gc removes orphans, broken records, stale temp dirs and dead owners' claims", async () => {
    engine = await openEngine({ cacheDir: join(dir, "cache") });
    const r = await engine.run([blob("a", 10), blob("b", 10)]);
    // A crash between rename and commit leaves a directory without a record.
    await mkdir(join(dir, "cache/artifacts", "f".repeat(64)));
    // A user removed an artifact by hand.
    execFileSync("rm", ["-rf", r.outputs.b!.dir]);
    // A dead process left its temp dir and an in-flight claim.
    await mkdir(join(dir, "cache/tmp/999999-12345-abcdef/out"), { recursive: true });
    await engine.store.inflight.put("e".repeat(64), {
      pid: 999999,
      start: "1",
      host: (await import("node:os")).hostname(),
      token: "t",
    });
    const g = await engine.gc();
    expect(g.removedEntries).toBe(1);
    expect(artifacts()).toEqual([r.outputs.a!.key]);
    expect(readdirSync(join(dir, "cache/tmp"))).toEqual([]);
    expect(engine.store.inflight.get("e".repeat(64))).toBeUndefined();
    const again = await engine.run([blob("a", 10), blob("b", 10)]);
    expect(again.cached).toEqual(["a"]);
    expect(again.ran).toEqual(["b"]);
  });

  it("takes over claims of a dead engine, even one of this very process", async () => {
    engine = await openEngine({ cacheDir: join(dir, "cache") });
    const r = await engine.run([blob("a", 10)]);
    const key = r.outputs.a!.key;
    await engine.forget(["a"]);
    const { hostname } = await import("node:os");
    const { processStartTime } = await import("../../engine/proc.js");
    await engine.store.inflight.put(key, {
      pid: process.pid,
      start: processStartTime(process.pid)!,
      host: hostname(),
      token: "an-engine-that-is-gone",
    });
    const events: string[] = [];
    const again = await engine.run([blob("a", 10)], { onEvent: (e) => events.push(e.type) });
    expect(again.ran).toEqual(["a"]);
    expect(events).not.toContain("waiting");
  });

  it("a corrupt record is not trusted", async () => {
    engine = await openEngine({ cacheDir: join(dir, "cache") });
    const r = await engine.run([blob("a", 10)]);
    await engine.store.out.put(r.outputs.a!.key, { digest: 42 });
    const again = await engine.run([blob("a", 10)]);
    expect(again.ran).toEqual(["a"]);
    expect(again.outputs.a!.digest).toBe(r.outputs.a!.digest);
  });

  it("replaces an orphan directory left where a new artifact goes", async () => {
    engine = await openEngine({ cacheDir: join(dir, "cache") });
    const r = await engine.run([blob("a", 10)]);
    const key = r.outputs.a!.key;
    // Simulate: directory present, record missing (crash after rename, before commit), with junk inside.
    await engine.store.write(() => engine.store.out.removeSync(key));
    await writeFile(join(r.outputs.a!.dir, "junk"), "partial");
    const again = await engine.run([blob("a", 10)]);
    expect(again.ran).toEqual(["a"]);
    expect(readdirSync(again.outputs.a!.dir)).toEqual(["data"]);
  });

  it.skipIf(!isRoot)(
    "stores and removes root-owned trees with device nodes, setuid files, xattrs, immutable files",
    async () => {
      engine = await openEngine({ cacheDir: join(dir, "cache") });
      const spec = node("rootfs", fnTask("rootfs"), {
        inputs: {},
        run: async (ctx) => {
          const o = ctx.out;
          await mkdir(join(o, "usr/bin"), { recursive: true });
          await writeFile(join(o, "usr/bin/su"), "su");
          execFileSync("chmod", ["4755", join(o, "usr/bin/su")]);
          execFileSync("mknod", [join(o, "whiteout"), "c", "0", "0"]);
          execFileSync("mknod", [join(o, "null"), "c", "1", "3"]);
          await mkdir(join(o, "opaque"));
          execFileSync("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", join(o, "opaque")]);
          await writeFile(join(o, "immutable"), "i");
          execFileSync("chown", ["-R", "123:456", o]);
          execFileSync("chmod", ["0555", join(o, "usr")]);
          try {
            execFileSync("chattr", ["+i", join(o, "immutable")], { stdio: "ignore" });
          } catch {
            /* filesystem without the attribute */
          }
          return undefined;
        },
      });
      const r = await engine.run([spec]);
      expect(r.ok).toBe(true);
      expect(existsSync(join(r.outputs.rootfs!.dir, "whiteout"))).toBe(true);
      expect(await engine.forget(["rootfs"])).toBe(1);
      expect(artifacts()).toEqual([]);
      expect(readdirSync(join(dir, "cache/tmp"))).toEqual([]);
    },
  );
});
