// The remote cache end to end at the engine's level, against a real registry: machine A (its own cache)
// runs a graph and pushes; machine B (an empty cache) runs the same graph and pulls every node, runs none,
// and ends up with the same artifacts. Then what goes wrong: a corrupt blob, a registry that is down or
// silent, secrets under another key, two pushers at once, a pull while A pushes, gc during a pull.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readSync, writeFileSync, writeSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EngineEvent, NodeSpec, RemoteCacheOptions, TaskContext } from "../../../engine/index.js";
import { openEngine } from "../../../engine/index.js";
import { parseRemoteLocation } from "../../../engine/remote/location.js";
import { parseManifest } from "../../../engine/remote/record.js";
import { RegistryClient } from "../../../engine/remote/registry.js";
import { startRegistry, type TestRegistry } from "../../helpers/registry.js";
import { makeSpecialTree, strictListing } from "../../helpers/special-tree.js";
import { cleanup, collector, fnTask, node, tempDir } from "../helpers.js";

let registry: TestRegistry;
let root: string;
const SECRET = randomBytes(32);

beforeAll(async () => {
  registry = await startRegistry();
  root = await tempDir("mkosi-remote-cache-");
});
afterAll(async () => {
  await registry?.close();
  await cleanup(root);
});

/** A fresh repository per test, so tests do not see each other's entries. */
function repo(): string {
  return registry.url(`test/${randomBytes(4).toString("hex")}`);
}

interface Counter {
  runs: string[];
}

/** base: a layer with everything; upper: a layer on it that whites out a file (retains base);
 * top: reads upper's output; secret: keyed on a secret value. */
function graph(counter: Counter, extra = "v1", withSecret = false): NodeSpec[] {
  const track = (id: string, f: (ctx: TaskContext) => Promise<void>) => async (ctx: TaskContext) => {
    counter.runs.push(id);
    await f(ctx);
    return id === "upper" ? { meta: { layer: 2 }, retain: [ctx.deps.base!.key] } : { meta: { node: id } };
  };
  const nodes: NodeSpec[] = [
    node("main/base", fnTask("base"), {
      inputs: { values: { version: 1 } },
      run: track("base", async (ctx) => makeSpecialTree(ctx.out)),
    }),
    node("main/upper", fnTask("upper"), {
      inputs: { values: { extra }, deps: { base: "main/base" } },
      run: track("upper", async (ctx) => {
        writeFileSync(join(ctx.out, "extra"), `${extra}\n`);
        await ctx.exec("mknod", [join(ctx.out, "owned"), "c", "0", "0"]);
      }),
    }),
    node("main/top", fnTask("top"), {
      inputs: { deps: { upper: "main/upper" } },
      run: track("top", async (ctx) => {
        mkdirSync(join(ctx.out, "etc"));
        writeFileSync(join(ctx.out, "etc/summary"), `upper ${ctx.deps.upper!.digest}\n`);
      }),
    }),
  ];
  if (withSecret) {
    nodes.push(
      node("main/secret", fnTask("secret"), {
        inputs: { secrets: { RootPassword: "hunter2" }, deps: { top: "main/top" } },
        run: track("secret", async (ctx) => writeFileSync(join(ctx.out, "shadow"), "root:$y$hashed\n")),
      }),
    );
  }
  return nodes;
}

async function machine(
  name: string,
  remote: RemoteCacheOptions | undefined,
  secretKey: Buffer = SECRET,
  cacheDir = join(root, `${name}-${randomBytes(3).toString("hex")}`),
) {
  return { engine: await openEngine({ cacheDir, remote, secretKey, concurrency: 2 }), cacheDir };
}

async function build(
  name: string,
  remote: RemoteCacheOptions | undefined,
  opts: { extra?: string; secret?: boolean; secretKey?: Buffer; cacheDir?: string } = {},
) {
  const m = await machine(name, remote, opts.secretKey, opts.cacheDir);
  const counter: Counter = { runs: [] };
  const events = collector();
  try {
    const summary = await m.engine.run(graph(counter, opts.extra, opts.secret), { onEvent: events.onEvent });
    const listings: Record<string, string[]> = {};
    for (const [id, out] of Object.entries(summary.outputs)) listings[id] = strictListing(out.dir);
    return { summary, runs: counter.runs, events, listings, cacheDir: m.cacheDir };
  } finally {
    await m.engine.close();
  }
}

function warnings(events: EngineEvent[]): string[] {
  return events.flatMap((e) => (e.type === "warning" ? [e.message] : []));
}

describe("remote cache through a registry", () => {
  it("A pushes, B pulls every node, runs none, and has the same artifacts", async () => {
    const url = repo();
    const a = await build("a", { url, push: true });
    expect(a.summary.ok).toBe(true);
    expect(a.runs.sort()).toEqual(["base", "top", "upper"]);
    const pushed = a.events.of("pushed");
    expect(pushed.map((e) => e.id).sort()).toEqual(["main/base", "main/top", "main/upper"]);
    expect(pushed.every((e) => e.bytes > 0)).toBe(true);
    expect(a.events.of("done")[0]).toMatchObject({ ran: 3, pushed: 3, pulled: 0 });

    // graph on B: everything is "remote", with the download's size.
    const m = await machine("b-explain", { url });
    const explained = await m.engine.explain(graph({ runs: [] }));
    await m.engine.close();
    expect(explained.map((e) => e.status)).toEqual(["remote", "remote", "remote"]);
    expect(explained.every((e) => (e.remote?.bytes ?? 0) > 0)).toBe(true);

    const b = await build("b", { url }, { cacheDir: m.cacheDir });
    expect(b.summary.ok).toBe(true);
    expect(b.runs).toEqual([]);
    expect(b.summary.ran).toEqual([]);
    expect([...(b.summary.pulled ?? [])].sort()).toEqual(["main/base", "main/top", "main/upper"]);
    expect(b.events.of("pulled").every((e) => e.bytes > 0)).toBe(true);
    expect(b.events.of("done")[0]).toMatchObject({ ran: 0, cached: 3, pulled: 3 });
    expect(warnings(b.events.events)).toEqual([]);
    for (const id of Object.keys(a.listings)) {
      expect(b.summary.outputs[id]!.digest).toBe(a.summary.outputs[id]!.digest);
      expect(b.summary.outputs[id]!.meta).toEqual(a.summary.outputs[id]!.meta);
      expect(b.listings[id]).toEqual(a.listings[id]);
    }
    // The record came along: B explains the node as A would (last run known, no "never built").
    const again = await machine("b-again", { url }, SECRET, b.cacheDir);
    const e2 = await again.engine.explain(graph({ runs: [] }, "v2"));
    await again.engine.close();
    const upper = e2.find((e) => e.id === "main/upper")!;
    expect(upper.status).toBe("will-run");
    expect(upper.changes.map((c) => `${c.name}: ${c.old} → ${c.new}`)).toEqual(["extra: v1 → v2"]);
    expect(upper.lastRun?.durationMs).toBeGreaterThanOrEqual(0);

    // A local hit never touches the network: with the registry gone, B's no-op says nothing.
    await registry.stop();
    try {
      const noop = await build("b-noop", { url }, { cacheDir: b.cacheDir });
      expect(noop.summary.ok).toBe(true);
      expect(noop.runs).toEqual([]);
      expect(noop.summary.pulled).toEqual([]);
      expect(warnings(noop.events.events)).toEqual([]);
    } finally {
      await registry.start();
    }
  });

  it("a changed input pulls what is above it and runs the rest", async () => {
    const url = repo();
    await build("a", { url, push: true }, { extra: "v1" });
    await build("a2", { url, push: true }, { extra: "v2" });
    // B with extra=v1 gets everything; a third variant pulls base and runs upper and top.
    const c = await build("c", { url }, { extra: "v3" });
    expect(c.summary.pulled).toEqual(["main/base"]);
    expect(c.runs.sort()).toEqual(["top", "upper"]);
  });

  it("a corrupt blob is discarded with a warning and its node runs locally", async () => {
    const url = repo();
    const a = await build("a", { url, push: true });
    const upperKey = a.summary.outputs["main/upper"]!.key;
    const loc = parseRemoteLocation(url);
    const client = new RegistryClient(loc, { timeoutMs: 5000, credentials: async () => undefined });
    const manifest = parseManifest((await client.getManifest(upperKey))!.body);
    client.close();
    const blob = registry.blobPath(manifest.layers[0].digest);
    // Flip one byte in the middle of the stored blob.
    const fd = openSync(blob, "r+");
    const at = Math.floor(manifest.layers[0].size / 2);
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    writeSync(fd, byte, 0, 1, at);
    closeSync(fd);

    const b = await build("b", { url });
    expect(b.summary.ok).toBe(true);
    expect(b.runs).toEqual(["upper"]);
    expect(b.summary.pulled?.sort()).toEqual(["main/base", "main/top"]);
    const w = warnings(b.events.events);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/does not match its digest/);
    // Rebuilt here: the same output (its mtimes aside), so top's key matched A's and top was pulled.
    expect(b.summary.outputs["main/upper"]!.digest).toBe(a.summary.outputs["main/upper"]!.digest);
  });

  it("a corrupt lower layer: it is rebuilt here, and the layers stacked on it are still pulled", async () => {
    const url = repo();
    const a = await build("a", { url, push: true });
    const baseKey = a.summary.outputs["main/base"]!.key;
    const client = new RegistryClient(parseRemoteLocation(url), {
      timeoutMs: 5000,
      credentials: async () => undefined,
    });
    const manifest = parseManifest((await client.getManifest(baseKey))!.body);
    client.close();
    const fd = openSync(registry.blobPath(manifest.layers[0].digest), "r+");
    writeSync(fd, Buffer.from("garbage"), 0, 7, 100);
    closeSync(fd);
    const b = await build("b", { url });
    expect(b.summary.ok).toBe(true);
    expect(b.runs).toEqual(["base"]);
    expect(b.summary.pulled?.sort()).toEqual(["main/top", "main/upper"]);
    const w = warnings(b.events.events);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/does not match its digest/);
  });

  it("a registry that is down: one warning, everything built locally", async () => {
    const url = repo();
    await build("a", { url, push: true });
    await registry.stop();
    try {
      const b = await build("b", { url, push: true });
      expect(b.summary.ok).toBe(true);
      expect(b.runs.sort()).toEqual(["base", "top", "upper"]);
      const w = warnings(b.events.events);
      expect(w).toHaveLength(1);
      expect(w[0]).toMatch(/is not usable .*ECONNREFUSED.*building locally, not pushing/);
    } finally {
      await registry.start();
    }
  });

  it("credentials that may only pull: one warning, no pushes, the build goes on", async () => {
    const readOnly = await startRegistry({ token: { user: "dev", password: "pw", pullOnly: true } });
    try {
      const b = await build("b", {
        url: readOnly.url("test/read-only"),
        push: true,
        env: { REGISTRY_AUTH_FILE: readOnly.authFile!, HOME: readOnly.dir },
      });
      expect(b.summary.ok).toBe(true);
      expect(b.runs.sort()).toEqual(["base", "top", "upper"]);
      expect(b.events.of("pushed")).toEqual([]);
      const w = warnings(b.events.events);
      expect(w).toHaveLength(1);
      expect(w[0]).toMatch(/refused a push .*access denied.*: not pushing/);
    } finally {
      await readOnly.close();
    }
  });

  it("a registry that does not answer: one warning after the timeout, everything built locally", async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const b = await build("b", { url: `http://127.0.0.1:${port}/test/silent`, timeoutMs: 300 });
      expect(b.summary.ok).toBe(true);
      expect(b.runs.sort()).toEqual(["base", "top", "upper"]);
      const w = warnings(b.events.events);
      expect(w).toHaveLength(1);
      expect(w[0]).toMatch(/no answer from .* within 0.3s/);
    } finally {
      silent.close();
    }
  });

  it("nodes with secrets are shared only between caches with the same secret key", async () => {
    const url = repo();
    await build("a", { url, push: true }, { secret: true });
    const other = await build("b-other-key", { url }, { secret: true, secretKey: randomBytes(32) });
    expect(other.runs).toEqual(["secret"]);
    expect(other.summary.pulled?.sort()).toEqual(["main/base", "main/top", "main/upper"]);
    const same = await build("b-same-key", { url }, { secret: true });
    expect(same.runs).toEqual([]);
    expect(same.summary.pulled).toHaveLength(4);
  });

  it("two pushers of the same keys at once, and a pull while they push, leave both sides whole", async () => {
    const url = repo();
    const [a1, a2, b] = await Promise.all([
      build("a1", { url, push: true }),
      build("a2", { url, push: true }),
      build("b", { url }),
    ]);
    for (const r of [a1, a2, b]) {
      expect(r.summary.ok).toBe(true);
      expect(warnings(r.events.events)).toEqual([]);
    }
    // Whatever B pulled or built has A's outputs (digests: the two A's built at different times, so their
    // mtimes differ); a later machine pulls all of it, and gets one pusher's tree exactly.
    const c = await build("c", { url });
    expect(c.runs).toEqual([]);
    for (const id of Object.keys(a1.listings)) {
      const digest = a1.summary.outputs[id]!.digest;
      expect(a2.summary.outputs[id]!.digest).toBe(digest);
      expect(b.summary.outputs[id]!.digest).toBe(digest);
      expect(c.summary.outputs[id]!.digest).toBe(digest);
      expect([a1.listings[id], a2.listings[id]]).toContainEqual(c.listings[id]);
    }
  });

  it("gc of the local cache (another process) while it pulls leaves a consistent cache", async () => {
    const url = repo();
    const a = await build("a", { url, push: true });
    const cacheDir = join(root, `b-gc-${randomBytes(3).toString("hex")}`);
    mkdirSync(cacheDir, { recursive: true });
    // gc in a loop in another process (as `mkosi clean` or a concurrent build would), until told to stop.
    const engineModule = join(import.meta.dirname, "../../../dist/engine/index.js");
    const script = `
      import { openEngine } from ${JSON.stringify(engineModule)};
      const engine = await openEngine({ cacheDir: ${JSON.stringify(cacheDir)} });
      let stop = false, rounds = 0;
      process.stdin.on("data", () => { stop = true; });
      process.stdout.write("ready\\n");
      while (!stop) { await engine.gc(); rounds++; await new Promise((r) => setTimeout(r, 5)); }
      await engine.close();
      process.stdout.write(String(rounds) + "\\n"); process.exit(0);
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    await new Promise<void>((resolve) => {
      const check = () => (out.includes("ready") ? resolve() : setTimeout(check, 20));
      check();
    });
    let b: Awaited<ReturnType<typeof build>>;
    try {
      b = await build("b", { url }, { cacheDir });
    } finally {
      child.stdin.write("stop\n");
      await new Promise((resolve) => child.on("exit", resolve));
    }
    expect(Number(out.split("\n")[1])).toBeGreaterThan(0);
    expect(b.summary.ok).toBe(true);
    expect(b.runs).toEqual([]);
    // The cache holds exactly what was pulled: a run without the remote finds it all.
    const c = await build("c", undefined, { cacheDir });
    expect(c.runs).toEqual([]);
    for (const id of Object.keys(a.listings)) expect(c.listings[id]).toEqual(a.listings[id]);
  });
});
