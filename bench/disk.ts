// Side-by-side benchmark of a bootable Debian bookworm disk image (linux-image-amd64, systemd-boot,
// the default initrd, a UKI), ours vs. upstream mkosi ($MKOSI_UPSTREAM, e.g. a checkout's bin/mkosi).
// Scenarios: cold (the image and its initrd built from scratch, with a warm package cache and a warm
// tools tree), one mkosi.extra/ file changed, KernelCommandLine= changed. Each tool has its own package
// cache and tools tree, warmed once before measuring. Prints medians; run by hand:
// `node dist/bench/disk.js [runs]`.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const OURS = join(REPO, "bin/mkosi");
const UPSTREAM = process.env.MKOSI_UPSTREAM;
const RUNS = Number(process.argv[2] ?? 3);
/** Upstream's runs take long (a cold build is minutes): fewer of them when time is short. */
const UPSTREAM_RUNS = Number(process.env.MKOSI_BENCH_UPSTREAM_RUNS ?? RUNS);
const ROOT = process.env.MKOSI_BENCH_DIR ?? "/var/cache/mkosi-ts-bench/disk";

function hostMirror(): string {
  const text = readFileSync("/etc/apt/sources.list.d/debian.sources", "utf8");
  return /URIs:\s*(\S+)/.exec(text)![1]!.replace(/\/$/, "");
}

function conf(packageCache: string, cmdline: string): string {
  return `[Distribution]
Distribution=debian
Release=bookworm

[Output]
Format=disk
ImageId=bench

[Content]
Packages=linux-image-amd64
         systemd
         systemd-boot-efi
         udev
Bootable=yes
KernelInitrdModules=default
KernelCommandLine=${cmdline}

[Build]
Incremental=yes
ToolsTree=default
ToolsTreeSandboxTrees=tools.sandbox
PackageCacheDirectory=${packageCache}
`;
}

function makeTree(packageCache: string): string {
  const dir = mkdtempSync(join(tmpdir(), "mkosi-bench-disk-"));
  writeFileSync(join(dir, "mkosi.conf"), conf(packageCache, "console=ttyS0"));
  mkdirSync(join(dir, "mkosi.extra/etc"), { recursive: true });
  writeFileSync(join(dir, "mkosi.extra/etc/motd"), "bench\n");
  mkdirSync(join(dir, "mkosi.cache"));
  // Copies, not links: upstream copies sandbox trees as they are.
  mkdirSync(join(dir, "mkosi.sandbox/etc/apt/sources.list.d"), { recursive: true });
  cpSync(
    "/etc/apt/sources.list.d/debian.sources",
    join(dir, "mkosi.sandbox/etc/apt/sources.list.d/mkosi.sources"),
  );
  mkdirSync(join(dir, "tools.sandbox/etc/apt/sources.list.d"), { recursive: true });
  writeFileSync(
    join(dir, "tools.sandbox/etc/apt/sources.list.d/mkosi.sources"),
    `Types: deb\nURIs: ${hostMirror()}\nSuites: testing\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
  );
  return dir;
}

function timed(argv: string[], cwd: string, env: Record<string, string> = {}): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(argv[0]!, argv.slice(1), {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
    encoding: "utf8",
    maxBuffer: 256 << 20,
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0)
    throw new Error(`${argv.join(" ")} failed in ${cwd}:\n${result.stderr.slice(-3000)}`);
  return seconds;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

type Scenarios = Record<"cold" | "extra" | "cmdline", number[]>;

/** With $MKOSI_BENCH_TRACE set (a directory), ours writes a Chrome trace of each measured build there. */
function trace(scenario: string, run: number): string[] {
  const dir = process.env.MKOSI_BENCH_TRACE;
  if (!dir) return [];
  mkdirSync(dir, { recursive: true });
  return ["--trace", join(dir, `${scenario}-${run}.json`)];
}

/** Ours: one graph cache holding the warm tools tree; "cold" forgets every node of the image and its
 * default initrd first (the tools tree's stay; the trace of a run shows no tools/ node). */
function oursWarm(): { packages: string; env: Record<string, string> } {
  const packages = join(ROOT, "ours-packages");
  mkdirSync(packages, { recursive: true });
  const env = { MKOSI_CACHE_DIR: join(ROOT, "ours-graph") };
  const warm = makeTree(packages);
  timed([OURS, "build"], warm, env);
  rmSync(warm, { recursive: true, force: true });
  return { packages, env };
}

async function oursRun(
  setup: { packages: string; env: Record<string, string> },
  run: number,
  result: Scenarios,
): Promise<void> {
  const { packages, env } = setup;
  const { openEngine } = await import("../engine/index.js");
  const dir = makeTree(packages);
  try {
    const plan = spawnSync(OURS, ["graph", "--format=json"], {
      cwd: dir,
      env: { ...process.env, ...env },
      encoding: "utf8",
    });
    // Forgetting a node forgets its key and whatever is layered on it: a node of the image whose key is
    // a tools tree node's (identical skeleton steps are shared) would take the tools tree with it.
    const nodes = (JSON.parse(plan.stdout) as { nodes: { id: string; key: string | null }[] }).nodes;
    const toolsKeys = new Set(nodes.filter((n) => n.id.startsWith("tools/")).map((n) => n.key));
    const ids = nodes.filter((n) => !n.id.startsWith("tools/") && !toolsKeys.has(n.key)).map((n) => n.id);
    const engine = await openEngine({ cacheDir: env.MKOSI_CACHE_DIR! });
    await engine.forget(ids);
    await engine.close();
    result.cold.push(timed([OURS, ...trace("cold", run), "build"], dir, env));
    writeFileSync(join(dir, "mkosi.extra/etc/motd"), `bench ${run}\n`);
    result.extra.push(timed([OURS, ...trace("extra", run), "build"], dir, env));
    writeFileSync(join(dir, "mkosi.conf"), conf(packages, `console=ttyS0 quiet`));
    result.cmdline.push(timed([OURS, ...trace("cmdline", run), "build"], dir, env));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stderr.write(`ours run ${run + 1}/${RUNS}: ${JSON.stringify(result)}\n`);
}

/** Upstream: a fresh tree per run with a copy of the warm tools tree (mkosi.tools) it built once; a
 * rebuild needs -f (it refuses an existing output), Incremental=yes keeps its image cache. */
function upstreamWarm(command: string): { packages: string; tools: string } {
  const packages = join(ROOT, "upstream-packages");
  mkdirSync(packages, { recursive: true });
  const tools = join(ROOT, "upstream-tools");
  if (!existsSync(tools)) {
    const warm = makeTree(packages);
    timed([command, "build"], warm);
    cpSync(join(warm, "mkosi.tools"), tools, { recursive: true, verbatimSymlinks: true });
    if (existsSync(join(warm, "mkosi.tools.manifest")))
      cpSync(join(warm, "mkosi.tools.manifest"), `${tools}.manifest`);
    rmSync(warm, { recursive: true, force: true });
  }
  return { packages, tools };
}

function upstreamRun(
  command: string,
  setup: { packages: string; tools: string },
  run: number,
  result: Scenarios,
): void {
  const { packages, tools } = setup;
  const dir = makeTree(packages);
  try {
    spawnSync("cp", ["-a", tools, join(dir, "mkosi.tools")]);
    if (existsSync(`${tools}.manifest`)) cpSync(`${tools}.manifest`, join(dir, "mkosi.tools.manifest"));
    result.cold.push(timed([command, "build"], dir));
    writeFileSync(join(dir, "mkosi.extra/etc/motd"), `bench ${run}\n`);
    result.extra.push(timed([command, "-f", "build"], dir));
    writeFileSync(join(dir, "mkosi.conf"), conf(packages, `console=ttyS0 quiet`));
    result.cmdline.push(timed([command, "-f", "build"], dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stderr.write(`upstream run ${run + 1}/${UPSTREAM_RUNS}: ${JSON.stringify(result)}\n`);
}

// Both tools warmed first, then their runs interleaved (ours, upstream, ours, …).
const results: Record<string, Scenarios> = { ours: { cold: [], extra: [], cmdline: [] } };
const oursSetup = oursWarm();
const upstreamSetup = UPSTREAM && existsSync(UPSTREAM) ? upstreamWarm(UPSTREAM) : undefined;
if (upstreamSetup) results.upstream = { cold: [], extra: [], cmdline: [] };
for (let run = 0; run < RUNS; run++) {
  await oursRun(oursSetup, run, results.ours!);
  if (upstreamSetup && run < UPSTREAM_RUNS) upstreamRun(UPSTREAM!, upstreamSetup, run, results.upstream!);
}
const rows = (["cold", "extra", "cmdline"] as const).map((name) => {
  const o = median(results.ours![name]);
  const u = results.upstream ? median(results.upstream[name]) : undefined;
  return `| ${name} | ${o.toFixed(1)} s | ${u !== undefined ? `${u.toFixed(1)} s` : "–"} | ${u !== undefined ? (o / u).toFixed(2) : "–"} |`;
});
process.stdout.write(
  `| scenario | ours (median of ${RUNS}) | upstream | ours/upstream |\n|---|---|---|---|\n${rows.join("\n")}\n`,
);
process.stdout.write(`\nraw: ${JSON.stringify(results)}\n`);
