// Disk image tests: config trees that build with the default tools tree (Debian testing: systemd-repart,
// ukify, bootctl), through the host's mirror, in one graph cache shared by every disk test, so the tools
// tree (and the default initrd) is built once. Keys are content hashes: sharing is as safe as one cache.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EngineEvent } from "../../engine/api.js";
import { hostMirrors, type MkosiRun, makeTree, PACKAGE_CACHE, runMkosi } from "../pipeline/harness.js";

export const DISK_CACHE = process.env.MKOSI_TEST_DISK_CACHE ?? "/var/cache/mkosi-ts-test/graph-disk";

function testingSources(): string {
  const { debian } = hostMirrors();
  return `Types: deb\nURIs: ${debian}\nSuites: testing\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`;
}

/** A config tree: `conf` is the [Output]…[Content] part; the distribution (Debian `release`, or "custom")
 * and the tools tree settings are added.
 * CacheOnly=metadata: the disk tests share one cache and run side by side; a metadata refresh forced by
 * one build could bring new repository metadata (the mirror changes several times a day) under the
 * others' feet and rerun their whole images, which is right but not what these tests look at.
 * ToolsTreePackages=systemd-tpm: Debian testing ships systemd-measure there (SignExpectedPcr=,
 * SplitArtifacts=pcrs). */
export async function diskTree(
  conf: string,
  files: Record<string, string> = {},
  release = "bookworm",
): Promise<string> {
  const distribution =
    release === "custom" ? "Distribution=custom" : `Distribution=debian\nRelease=${release}`;
  return makeTree({
    // The image's apt sources (mkosi.sandbox/) for its release.
    ...(release === "custom" ? {} : { release }),
    files: {
      "mkosi.conf": `[Distribution]\n${distribution}\n\n${conf}\n\n[Build]\nCacheOnly=metadata\nToolsTree=default\nToolsTreePackages=systemd-tpm\nToolsTreeSandboxTrees=tools.sandbox\nPackageCacheDirectory=${PACKAGE_CACHE}\n`,
      "tools.sandbox/etc/apt/sources.list.d/mkosi.sources": testingSources(),
      ...files,
    },
  });
}

export async function build(dir: string, args: string[] = []): Promise<MkosiRun> {
  const run = await runMkosi([...args, "--json", "build"], {
    cwd: dir,
    env: { MKOSI_CACHE_DIR: DISK_CACHE },
  });
  if (run.code !== 0)
    throw new Error(
      `build failed (${run.code}):\n${run.stderr}\n${failures(run.events)}\n${run.stdout.slice(-3000)}`,
    );
  return run;
}

/** A build that must fail: its error output. */
export async function buildFails(dir: string, args: string[] = []): Promise<string> {
  const run = await runMkosi([...args, "build"], { cwd: dir, env: { MKOSI_CACHE_DIR: DISK_CACHE } });
  if (run.code === 0) throw new Error(`build succeeded, expected a failure:\n${run.stderr}`);
  return run.stderr;
}

function failures(events: EngineEvent[]): string {
  return events
    .filter((e) => e.type === "failed")
    .map((e) => JSON.stringify(e).slice(0, 4000))
    .join("\n");
}

export interface GraphNode {
  id: string;
  status: string;
  key: string | null;
}

/**
 * Forget every node of the tree's images (the default initrd's too) but not the tools tree's, for a cold
 * rebuild. Forgetting goes by key and takes what is layered on it along: a node whose key is a tools tree
 * node's (identical skeleton steps are shared) stays, or the tools tree would be rebuilt as well.
 */
export async function forgetImages(dir: string): Promise<void> {
  const run = await runMkosi(["graph", "--format=json"], { cwd: dir, env: { MKOSI_CACHE_DIR: DISK_CACHE } });
  if (run.code !== 0) throw new Error(`graph failed:\n${run.stderr}`);
  const nodes = (JSON.parse(run.stdout) as { nodes: GraphNode[] }).nodes;
  const toolsKeys = new Set(nodes.filter((n) => n.id.startsWith("tools/")).map((n) => n.key));
  const { openEngine } = await import("../../engine/index.js");
  const engine = await openEngine({ cacheDir: DISK_CACHE });
  await engine.forget(
    nodes.filter((n) => !n.id.startsWith("tools/") && !toolsKeys.has(n.key)).map((n) => n.id),
  );
  await engine.close();
}

export async function graph(dir: string, args: string[] = []): Promise<Record<string, string>> {
  const run = await runMkosi([...args, "graph", "--format=json"], {
    cwd: dir,
    env: { MKOSI_CACHE_DIR: DISK_CACHE },
  });
  if (run.code !== 0) throw new Error(`graph failed:\n${run.stderr}`);
  const nodes = (JSON.parse(run.stdout) as { nodes: GraphNode[] }).nodes;
  return Object.fromEntries(nodes.map((n) => [n.id, n.status]));
}

export function ran(run: MkosiRun, group = "main"): string[] {
  return run.ran.filter((id) => id.startsWith(`${group}/`)).map((id) => id.slice(group.length + 1));
}

export { join };

/** GPT partition type UUIDs (x86-64). */
export const TYPE = {
  root: "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
  rootVerity: "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5",
  rootVeritySig: "41092b05-9fc8-4523-994f-2def0408b176",
  esp: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
  biosBoot: "21686148-6449-6e6f-744e-656564454649",
};

/**
 * The disk test files take turns: they share one cache, assert what stays cached between builds, and
 * two of them forget the image's nodes (by node id, which every file's "main" image shares) for a cold
 * rebuild. A directory next to the cache is the lock (mkdir is atomic); a holder that died leaves its pid
 * behind, and the lock is taken over. Returns the release function.
 */
export async function takeDiskTurn(): Promise<() => void> {
  const lock = `${DISK_CACHE}.test-lock`;
  mkdirSync(join(DISK_CACHE, ".."), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      return () => rmSync(lock, { recursive: true, force: true });
    } catch {
      let holder = 0;
      try {
        holder = Number(readFileSync(join(lock, "pid"), "utf8"));
      } catch {
        // being written: wait
      }
      let alive = holder > 0;
      try {
        if (holder > 0) process.kill(holder, 0);
      } catch {
        alive = false;
      }
      if (holder > 0 && !alive) rmSync(lock, { recursive: true, force: true });
      else await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}
