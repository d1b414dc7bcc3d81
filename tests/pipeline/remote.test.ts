// The remote cache with real builds of the bookworm example and a real registry (Debian's docker-registry):
// machine A (its own directory and cache) builds with --cache-push; machine B (another directory, an empty
// cache) builds the same tree and pulls every node instead of running it (publish, whose product is the
// output directory, runs), and its image equals A's byte for byte. Then: the same through htpasswd auth
// (A pushes what its cache has); a corrupt blob in the registry's storage (B rebuilds that node); a changed
// mkosi.extra on B (pulls what is below extras, runs the rest); the registry stopped (B builds locally,
// with one warning).
import { closeSync, openSync, readdirSync, readFileSync, readSync, writeSync } from "node:fs";
import { appendFile, rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EngineEvent } from "../../engine/api.js";
import { parseRemoteLocation } from "../../engine/remote/location.js";
import { parseManifest } from "../../engine/remote/record.js";
import { RegistryClient } from "../../engine/remote/registry.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { describeTree } from "../helpers/tree.js";
import { makeTree, PACKAGE_CACHE, REPO, runMkosi } from "./harness.js";

const EXAMPLE = join(REPO, "examples/bookworm");
const SECRET_KEY = "5e".repeat(32);

function exampleFiles(): Record<string, string> {
  const files: Record<string, string> = {
    "mkosi.conf": `${readFileSync(join(EXAMPLE, "mkosi.conf"), "utf8")}\n[Build]\nPackageCacheDirectory=${PACKAGE_CACHE}\n`,
  };
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else files[relative(EXAMPLE, p)] = readFileSync(p, "utf8");
    }
  };
  walk(join(EXAMPLE, "mkosi.extra"));
  return files;
}

function of<T extends EngineEvent["type"]>(
  events: EngineEvent[],
  type: T,
): Extract<EngineEvent, { type: T }>[] {
  return events.filter((e) => e.type === type) as Extract<EngineEvent, { type: T }>[];
}

/** Everything about the image tree (names, types, modes, owners, sizes, mtimes, link targets, content
 * hashes, hard links, xattrs) except a directory's own size, which depends on the file system's history
 * (ext4 does not shrink directories), not on the tree. */
function listing(dir: string): string[] {
  return describeTree(dir).map((l) => l.replace(/^(\S+ d \S+ \S+) \d+ /, "$1 - "));
}

/** The listing without mtimes (for nodes rebuilt from sources written at another time). */
function withoutTimes(lines: string[]): string[] {
  return lines.map((l) => l.replace(/^(\S+ \S+ \S+ \S+ \S+) \S+/, "$1"));
}

describe("remote cache: the bookworm example on two machines", () => {
  let reg: TestRegistry;
  let regAuth: TestRegistry;
  let dirA = "";
  let dirB = "";
  let nodes: string[] = [];
  let keys: Record<string, string> = {};
  const env = (dir: string, cache: string, extra: Record<string, string> = {}) => ({
    MKOSI_CACHE_DIR: join(dir, cache),
    MKOSI_CACHE_SECRET_KEY: SECRET_KEY,
    ...extra,
  });
  const output = (dir: string) => join(dir, "example");

  beforeAll(async () => {
    [reg, regAuth] = await Promise.all([
      startRegistry(),
      startRegistry({ basic: { user: "ci", password: "pushpull" } }),
    ]);
    dirA = await makeTree({ files: exampleFiles() });
    dirB = await makeTree({ files: exampleFiles() });
    const a = await runMkosi(["--cache-remote", reg.url(), "--cache-push", "--json", "build"], {
      cwd: dirA,
      env: env(dirA, ".cache"),
    });
    if (a.code !== 0) throw new Error(`A's build failed (${a.code}):\n${a.stderr}\n${a.stdout.slice(-4000)}`);
    nodes = a.ran;
    keys = Object.fromEntries(of(a.events, "finished").map((e) => [e.id, e.key]));
    expect(
      of(a.events, "pushed")
        .map((e) => e.id)
        .sort(),
    ).toEqual([...nodes].sort());
  }, 1_800_000);

  afterAll(async () => {
    await Promise.all([reg?.close(), regAuth?.close()]);
    for (const d of [dirA, dirB]) if (d) await rm(d, { recursive: true, force: true });
  });

  it("B's graph shows every node but publish as remote, with its size", async () => {
    const g = await runMkosi(["--cache-remote", reg.url(), "graph", "--format=json"], {
      cwd: dirB,
      env: env(dirB, ".cache-graph"),
    });
    expect(g.code).toBe(0);
    const json = JSON.parse(g.stdout) as {
      nodes: { id: string; status: string; remote: { bytes: number } | null }[];
    };
    // publish's key covers its output path, which differs between the two machines' trees.
    const status = Object.fromEntries(json.nodes.map((n) => [n.id, n.status]));
    expect(status).toEqual(
      Object.fromEntries(nodes.map((id) => [id, id === "main/publish" ? "will-run" : "remote"])),
    );
    expect(json.nodes.every((n) => n.status !== "remote" || (n.remote?.bytes ?? 0) > 0)).toBe(true);
  }, 120_000);

  it("B pulls every node, runs only publish, and its image equals A's byte for byte", async () => {
    const b = await runMkosi(["--cache-remote", reg.url(), "--json", "build"], {
      cwd: dirB,
      env: env(dirB, ".cache-b"),
    });
    expect(b.code, b.stderr).toBe(0);
    // publish writes the output directory (outside the cache): it runs wherever the output is missing.
    expect(b.ran).toEqual(["main/publish"]);
    const pulled = of(b.events, "pulled").map((e) => e.id);
    expect(pulled.sort()).toEqual(nodes.filter((n) => n !== "main/publish").sort());
    expect(of(b.events, "pulled").every((e) => e.bytes > 0)).toBe(true);
    expect(of(b.events, "warning")).toEqual([]);
    expect(of(b.events, "done")[0]).toMatchObject({ ok: true, ran: 1, pulled: nodes.length - 1 });
    expect(listing(output(dirB))).toEqual(listing(output(dirA)));
  }, 900_000);

  it("through htpasswd auth: A pushes what its cache has, B pulls it with the credentials file", async () => {
    const auth = { REGISTRY_AUTH_FILE: regAuth.authFile! };
    const a = await runMkosi(["--cache-remote", regAuth.url(), "--cache-push", "--json", "build"], {
      cwd: dirA,
      env: env(dirA, ".cache", auth),
    });
    expect(a.code, a.stderr).toBe(0);
    expect(a.ran).toEqual([]);
    expect(
      of(a.events, "pushed")
        .map((e) => e.id)
        .sort(),
    ).toEqual([...nodes].sort());
    await rm(output(dirB), { recursive: true, force: true });
    const b = await runMkosi(["--cache-remote", regAuth.url(), "--json", "build"], {
      cwd: dirB,
      env: env(dirB, ".cache-b-auth", auth),
    });
    expect(b.code, b.stderr).toBe(0);
    expect(b.ran).toEqual(["main/publish"]);
    expect(of(b.events, "pulled")).toHaveLength(nodes.length - 1);
    expect(listing(output(dirB))).toEqual(listing(output(dirA)));
  }, 900_000);

  // The skeleton node: small, and its output does not depend on when or where it is built, so the nodes
  // above it keep their keys and are still pulled.
  it("a corrupt blob in the registry: B detects it and rebuilds that node", async () => {
    const client = new RegistryClient(parseRemoteLocation(reg.url()), {
      timeoutMs: 10_000,
      credentials: async () => undefined,
    });
    const manifest = parseManifest((await client.getManifest(keys["main/skeleton"]!))!.body);
    client.close();
    const layer = manifest.layers[0];
    const fd = openSync(reg.blobPath(layer.digest), "r+");
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, layer.size - 8);
    byte[0] = byte[0]! ^ 0x55;
    writeSync(fd, byte, 0, 1, layer.size - 8);
    closeSync(fd);

    // Each fresh cache is a new machine: an output another cache published is not its to replace.
    await rm(output(dirB), { recursive: true, force: true });
    const b = await runMkosi(["--cache-remote", reg.url(), "--json", "build"], {
      cwd: dirB,
      env: env(dirB, ".cache-b-corrupt"),
    });
    expect(b.code, b.stderr).toBe(0);
    const warnings = of(b.events, "warning").map((e) => e.message);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/does not match its digest/);
    expect(b.ran.sort()).toEqual(["main/publish", "main/skeleton"]);
    expect(of(b.events, "pulled")).toHaveLength(nodes.length - 2);
    // Rebuilt here (same content, other mtimes): the same image otherwise.
    expect(withoutTimes(listing(output(dirB)))).toEqual(withoutTimes(listing(output(dirA))));
  }, 900_000);

  it("a changed mkosi.extra on B pulls everything below extras and runs the rest", async () => {
    await appendFile(join(dirB, "mkosi.extra/etc/motd"), "changed on B\n");
    await rm(output(dirB), { recursive: true, force: true });
    // (The registry whose skeleton blob the previous test corrupted would make skeleton run too.)
    const b = await runMkosi(["--cache-remote", regAuth.url(), "--json", "build"], {
      cwd: dirB,
      env: env(dirB, ".cache-b-extra", { REGISTRY_AUTH_FILE: regAuth.authFile! }),
    });
    expect(b.code, b.stderr).toBe(0);
    const at = nodes.indexOf("main/extras");
    expect(at).toBeGreaterThan(0);
    expect(
      of(b.events, "pulled")
        .map((e) => e.id)
        .sort(),
    ).toEqual(nodes.slice(0, at).sort());
    expect(b.ran.sort()).toEqual(nodes.slice(at).sort());
    expect(readFileSync(join(output(dirB), "etc/motd"), "utf8")).toMatch(/changed on B\n$/);
  }, 900_000);

  it("the registry stopped: B builds locally, with one warning", async () => {
    await reg.stop();
    await rm(output(dirB), { recursive: true, force: true });
    const b = await runMkosi(["--cache-remote", reg.url(), "build"], {
      cwd: dirB,
      env: env(dirB, ".cache-b-down"),
    });
    expect(b.code, b.stderr).toBe(0);
    const warnings = b.stderr.split("\n").filter((l) => l.startsWith("WARNING:"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/remote cache .* is not usable .*ECONNREFUSED.*building locally/);
    expect(b.stderr).toMatch(new RegExp(`Build finished in .*: ${nodes.length} nodes run`));
    expect(readFileSync(join(output(dirB), "etc/motd"), "utf8")).toMatch(/changed on B\n$/);
  }, 1_800_000);
});
