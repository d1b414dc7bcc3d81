// What a key covers beyond plain values: the order of path inputs, secrets (covered by a keyed digest,
// never stored or shown), and unique path labels.
import { execFileSync } from "node:child_process";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { outputDigest } from "../../engine/encoding.js";
import { type EngineImpl, type NodeExplanation, openEngine } from "../../engine/index.js";
import { cleanup, fnTask, node, tempDir } from "./helpers.js";

const SECRET = "hunter2-secret-7f3a";

/** Every byte of the cache's index, as text (LMDB stores JSON records). */
function indexText(cacheDir: string): string {
  return execFileSync("cat", [join(cacheDir, "index", "data.mdb")]).toString("latin1");
}

describe("keys", () => {
  let dir: string;
  let engine: EngineImpl;
  beforeEach(async () => {
    dir = await tempDir();
    engine = await openEngine({ cacheDir: join(dir, "cache") });
  });
  afterEach(async () => {
    await engine.close();
    await cleanup(dir);
  });

  it("the order of path inputs is part of the key (overlapping trees: the later one wins)", async () => {
    for (const name of ["a", "b"]) {
      await mkdir(join(dir, name), { recursive: true });
      await writeFile(join(dir, name, "file"), `from ${name}\n`);
    }
    const copy = fnTask("skeleton");
    const build = (order: string[]) => [
      node("img/skeleton", copy, {
        inputs: { paths: order.map((name) => [name, join(dir, name)] as const) },
        run: async (ctx) => {
          for (const name of order)
            await writeFile(join(ctx.out, "file"), await readFile(join(dir, name, "file")));
          return undefined;
        },
      }),
    ];
    const first = await engine.run(build(["a", "b"]));
    expect(first.ran).toEqual(["img/skeleton"]);
    expect(await readFile(join(first.outputs["img/skeleton"]!.dir, "file"), "utf8")).toBe("from b\n");
    const [explained] = await engine.explain(build(["b", "a"]));
    expect(explained!.status).toBe("will-run");
    expect(explained!.changes).toEqual([
      { kind: "order", name: "paths", change: "modified", old: ["a", "b"], new: ["b", "a"] },
    ]);
    const second = await engine.run(build(["b", "a"]));
    expect(second.ran).toEqual(["img/skeleton"]);
    expect(await readFile(join(second.outputs["img/skeleton"]!.dir, "file"), "utf8")).toBe("from a\n");
    expect((await engine.run(build(["b", "a"]))).cached).toEqual(["img/skeleton"]);
  });

  it("a path label declared twice is a planning error", async () => {
    const [explained] = await engine.explain([
      node("img/x", fnTask("x"), {
        inputs: {
          paths: [
            ["same", join(dir, "one")],
            ["same", join(dir, "two")],
          ],
        },
      }),
    ]);
    expect(explained!.status).toBe("missing-input");
    expect(explained!.problem).toMatch(/path label "same" is declared twice/);
  });

  it("secret values: covered by the key, never stored, explained without their value", async () => {
    const setup = fnTask("systemd-setup");
    const build = (password: string, hostname: string) => [
      node("img/setup", setup, {
        inputs: { values: { Hostname: hostname }, secrets: { RootPassword: [password, false] } },
        run: async (ctx) => {
          await writeFile(join(ctx.out, "shadow"), `root:${password.length}\n`);
          return undefined;
        },
      }),
    ];
    expect((await engine.run(build(SECRET, "alpha"))).ran).toEqual(["img/setup"]);
    expect((await engine.run(build(SECRET, "alpha"))).cached).toEqual(["img/setup"]);
    const [changed] = await engine.explain(build(`${SECRET}-2`, "alpha"));
    expect(changed!.status).toBe("will-run");
    expect(changed!.changes).toEqual([{ kind: "secret", name: "RootPassword", change: "modified" }]);
    expect(JSON.stringify(changed)).not.toContain(SECRET);
    await engine.run(build(`${SECRET}-2`, "alpha"));
    await engine.close();
    expect(indexText(join(dir, "cache"))).not.toContain(SECRET);
    engine = await openEngine({ cacheDir: join(dir, "cache") });
    // The cache's secret key is private to its owner.
    expect((await stat(join(dir, "cache", "secret.key"))).mode & 0o077).toBe(0);
  });

  it("the same secret under another cache's key gives another key (digests are keyed)", async () => {
    const t = fnTask("t");
    const spec = () => [node("img/t", t, { inputs: { secrets: { Passphrase: SECRET } } })];
    const [here] = await engine.explain(spec());
    const other = await openEngine({ cacheDir: join(dir, "other") });
    const [there] = await other.explain(spec());
    await other.close();
    expect(here!.key).not.toBe(there!.key);
    const shared = await openEngine({ cacheDir: join(dir, "shared"), secretKey: Buffer.alloc(32, 7) });
    const shared2 = await openEngine({ cacheDir: join(dir, "shared2"), secretKey: Buffer.alloc(32, 7) });
    const keys = [(await shared.explain(spec()))[0]!.key, (await shared2.explain(spec()))[0]!.key];
    await shared.close();
    await shared2.close();
    expect(keys[0]).toBe(keys[1]);
  });

  it("an artifact that names a secret-keyed one by key has the same output digest in every cache", async () => {
    // Like a layer on top of systemd-setup (RootPassword= unset): the lower node's key differs between
    // caches, its output does not, and the upper one's metadata lists the lower key.
    const lower = fnTask("lower");
    const upper = fnTask("upper");
    const spec = () => [
      node("img/lower", lower, {
        inputs: { secrets: { RootPassword: null } },
        run: async (ctx) => {
          await writeFile(join(ctx.out, "file"), "lower\n");
          return undefined;
        },
      }),
      node("img/upper", upper, {
        inputs: { deps: { lower: "img/lower" } },
        run: async (ctx) => {
          await writeFile(join(ctx.out, "file"), "upper\n");
          const below = ctx.deps.lower!.key;
          return { meta: { layers: [below] }, retain: [below] };
        },
      }),
    ];
    const other = await openEngine({ cacheDir: join(dir, "other") });
    const here = await engine.run(spec());
    const there = await other.run(spec());
    await other.close();
    expect(here.outputs["img/lower"]!.key).not.toBe(there.outputs["img/lower"]!.key);
    expect(here.outputs["img/lower"]!.digest).toBe(there.outputs["img/lower"]!.digest);
    expect(here.outputs["img/upper"]!.key).toBe(there.outputs["img/upper"]!.key);
    expect(here.outputs["img/upper"]!.digest).toBe(there.outputs["img/upper"]!.digest);
  });

  it("an output digest does not depend on the order of the retained keys (sorted, so cache-local)", () => {
    const meta = { layers: ["k1", "k2"] };
    expect(
      outputDigest(
        "D x",
        meta,
        new Map([
          ["k1", "d1"],
          ["k2", "d2"],
        ]),
      ),
    ).toBe(
      outputDigest(
        "D x",
        { layers: ["j1", "j2"] },
        new Map([
          ["j2", "d2"],
          ["j1", "d1"],
        ]),
      ),
    );
    // The order in the metadata does count.
    expect(
      outputDigest(
        "D x",
        meta,
        new Map([
          ["k1", "d1"],
          ["k2", "d2"],
        ]),
      ),
    ).not.toBe(
      outputDigest(
        "D x",
        { layers: ["k2", "k1"] },
        new Map([
          ["k1", "d1"],
          ["k2", "d2"],
        ]),
      ),
    );
  });

  it("secret path inputs: a content change reruns, the content digest is not stored", async () => {
    const file = join(dir, "mkosi.passphrase");
    await writeFile(file, SECRET);
    const t = fnTask("repart");
    const spec = () => [
      node("img/repart", t, { inputs: { paths: [["Passphrase", { path: file, secret: true }]] } }),
    ];
    expect((await engine.run(spec())).ran).toEqual(["img/repart"]);
    expect((await engine.run(spec())).cached).toEqual(["img/repart"]);
    await writeFile(file, `${SECRET}x`);
    const [explained] = (await engine.explain(spec())) as NodeExplanation[];
    expect(explained!.status).toBe("will-run");
    expect(explained!.changes).toEqual([
      { kind: "path", name: "Passphrase", change: "modified", old: "(secret)", new: "(secret)" },
    ]);
    await engine.run(spec());
    await engine.close();
    const plainDigest = execFileSync("sha256sum", [file]).toString().split(" ")[0]!;
    expect(indexText(join(dir, "cache"))).not.toContain(plainDigest);
    engine = await openEngine({ cacheDir: join(dir, "cache") });
  });
});
