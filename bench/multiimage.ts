// Multi-image builds side by side with upstream mkosi ($MKOSI_UPSTREAM, e.g. a checkout's bin/mkosi;
// ours only when unset). Each tool has its own warmed package cache; runs are interleaved (ours, upstream,
// ours, …) so that load from other processes falls on both alike; medians are printed.
//
//  - shared-base (cold): a Debian bookworm base image (Packages=systemd,udev,dbus) and four subimages on it
//    (BaseTrees=%O/base, an extra tree and a post-installation script each), built from an empty build
//    cache. Upstream builds the images one after the other; ours runs the four on the base concurrently.
//  - fixture (touch a source file): fixtures/systemd-style built once, then a code change to
//    src/greet.c and a rebuild (upstream needs -f for a rebuild; Incremental=yes for both).
//
// Run by hand: `npm run build && MKOSI_UPSTREAM=/path/to/mkosi/bin/mkosi node dist/bench/multiimage.js
// [runs] [scenario…]`.
import { execFileSync, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const OURS = join(REPO, "bin/mkosi");
const UPSTREAM = process.env.MKOSI_UPSTREAM;
const RUNS = Number(process.argv[2] ?? 3);
const ONLY = process.argv.slice(3);
const WORK = process.env.MKOSI_BENCH_WORK ?? "/var/tmp";

interface Tool {
  name: "ours" | "upstream";
  mkosi: string;
  /** Each tool's own package cache (warmed by the first build). */
  packageCache: string;
  /** Upstream refuses to overwrite an existing output without -f. */
  rebuild: string[];
}

const tools: Tool[] = [
  {
    name: "ours",
    mkosi: OURS,
    packageCache: "/var/cache/mkosi-ts-bench/packages",
    rebuild: ["build"],
  },
];
if (UPSTREAM && existsSync(UPSTREAM))
  tools.push({
    name: "upstream",
    mkosi: UPSTREAM,
    packageCache: "/var/cache/mkosi-ts-bench/packages-upstream",
    rebuild: ["-f", "build"],
  });

function write(path: string, content: string, mode?: number): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content, mode ? { mode } : {});
}

function sources(dir: string): void {
  // A copy of the host's Debian sources: upstream's defaults include debian-debug, which is not served here.
  mkdirSync(join(dir, "etc/apt/sources.list.d"), { recursive: true });
  copyFileSync("/etc/apt/sources.list.d/debian.sources", join(dir, "etc/apt/sources.list.d/mkosi.sources"));
}

/** The shared-base tree: base + four subimages on it (main builds nothing of its own). */
function sharedBase(tool: Tool): string {
  const dir = mkdtempSync(join(WORK, "mkosi-bench-multi-"));
  write(
    join(dir, "mkosi.conf"),
    `[Config]\nDependencies=base,one,two,three,four\n\n[Distribution]\nDistribution=debian\nRelease=bookworm\n\n[Output]\nFormat=none\n\n[Build]\nIncremental=yes\nPackageCacheDirectory=${tool.packageCache}\n`,
  );
  sources(join(dir, "mkosi.sandbox"));
  mkdirSync(join(dir, "mkosi.output"));
  mkdirSync(join(dir, "mkosi.cache"));
  write(
    join(dir, "mkosi.images/base/mkosi.conf"),
    "[Output]\nFormat=directory\n\n[Content]\nPackages=systemd,udev,dbus\n",
  );
  for (const name of ["one", "two", "three", "four"]) {
    write(
      join(dir, `mkosi.images/${name}/mkosi.conf`),
      "[Config]\nDependencies=base\n\n[Output]\nFormat=directory\n\n[Content]\nBaseTrees=%O/base\n",
    );
    write(join(dir, `mkosi.images/${name}/mkosi.extra/usr/share/${name}/data`), `${name}\n`);
    write(
      join(dir, `mkosi.images/${name}/mkosi.postinst`),
      `#!/bin/sh\necho ${name} > "$BUILDROOT/usr/share/${name}/postinst"\n`,
      0o755,
    );
  }
  return dir;
}

/** A copy of fixtures/systemd-style set up for one tool. */
function fixture(tool: Tool): string {
  const dir = mkdtempSync(join(WORK, "mkosi-bench-fixture-"));
  execFileSync("cp", ["-a", `${join(REPO, "fixtures/systemd-style")}/.`, dir]);
  sources(join(dir, "mkosi/mkosi.sandbox"));
  write(
    join(dir, "mkosi/mkosi.local.conf"),
    // Upstream's Incremental= needs a cache directory.
    `[Build]\nIncremental=yes\nCacheDirectory=../build/mkosi.cache\nPackageCacheDirectory=${tool.packageCache}\n`,
  );
  for (const path of ["build/mkosi.output", "build/mkosi.builddir", "build/mkosi.cache"])
    mkdirSync(join(dir, path), { recursive: true });
  return dir;
}

function timed(tool: Tool, args: string[], cwd: string): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(tool.mkosi, args, {
    cwd,
    env: { ...process.env, MKOSI_CACHE_DIR: join(cwd, ".cache-ours") },
    stdio: ["ignore", "ignore", "pipe"],
    encoding: "utf8",
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0)
    throw new Error(`${tool.name}: mkosi ${args.join(" ")} failed in ${cwd}:\n${result.stderr.slice(-3000)}`);
  return seconds;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Scenario {
  name: string;
  /** One measurement for `tool` (a fresh tree each time). */
  measure(tool: Tool): number;
}

const scenarios: Scenario[] = [
  {
    name: "shared-base cold (base + 4 subimages)",
    measure(tool) {
      const dir = sharedBase(tool);
      try {
        return timed(tool, ["build"], dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
  {
    name: "fixture: code change in one source file",
    measure(tool) {
      const dir = fixture(tool);
      try {
        timed(tool, ["build"], dir);
        const file = join(dir, "src/greet.c");
        writeFileSync(file, readFileSync(file, "utf8").replace("hello, %s", "hi, %s"));
        return timed(tool, tool.rebuild, dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];

// Warm each tool's package cache (downloads are not what is measured).
for (const tool of tools) {
  mkdirSync(tool.packageCache, { recursive: true });
  for (const make of [sharedBase, fixture]) {
    const dir = make(tool);
    try {
      timed(tool, ["build"], dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  process.stderr.write(`${tool.name}: package cache warm\n`);
}

const results: Record<string, Record<string, number[]>> = {};
for (const scenario of scenarios) {
  if (ONLY.length > 0 && !ONLY.some((o) => scenario.name.includes(o))) continue;
  results[scenario.name] = {};
  for (let run = 0; run < RUNS; run++) {
    for (const tool of tools) {
      const seconds = scenario.measure(tool);
      const byTool = results[scenario.name]!;
      byTool[tool.name] = [...(byTool[tool.name] ?? []), seconds];
      process.stderr.write(
        `${scenario.name}: ${tool.name} run ${run + 1}/${RUNS}: ${seconds.toFixed(1)} s\n`,
      );
    }
  }
}

const rows = Object.entries(results).map(([name, byTool]) => {
  const ours = median(byTool.ours!);
  const up = byTool.upstream ? median(byTool.upstream) : undefined;
  const cell = (s: number | undefined) => (s === undefined ? "–" : `${s.toFixed(1)} s`);
  return `| ${name} | ${cell(ours)} | ${cell(up)} | ${up ? (ours / up).toFixed(2) : "–"} |`;
});
process.stdout.write(
  `| scenario | ours (median of ${RUNS}) | upstream | ours/upstream |\n|---|---|---|---|\n${rows.join("\n")}\n`,
);
process.stdout.write(`\nraw: ${JSON.stringify(results)}\n`);
