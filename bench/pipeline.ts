// Side-by-side benchmark of a real Debian bookworm build (Packages=systemd,udev,dbus, Incremental=yes):
// ours vs. upstream mkosi (path in $MKOSI_UPSTREAM, e.g. a checkout's bin/mkosi; skipped when unset).
// Scenarios: cold directory build, no-op rebuild, one file changed in mkosi.extra/, one package added.
// Upstream's plain `build` over an existing output logs that it exists and returns without checking
// anything, so its no-op is measured twice: plain `build` (no check at all) and `-f build` (what a user
// must run after a change; its other rebuilds use -f). Each tool has its own package cache, warmed by a
// build of its own before the timed runs (upstream keeps packages under cache/apt/archives, ours flat).
// Runs of the two tools alternate. Prints medians; run by hand: `node dist/bench/pipeline.js [runs]`.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const OURS = join(REPO, "bin/mkosi");
const UPSTREAM = process.env.MKOSI_UPSTREAM;
const RUNS = Number(process.argv[2] ?? 3);
const PACKAGE_CACHES = {
  ours: process.env.MKOSI_BENCH_PACKAGE_CACHE ?? "/var/cache/mkosi-ts-bench/packages",
  upstream: process.env.MKOSI_BENCH_UPSTREAM_PACKAGE_CACHE ?? "/var/cache/mkosi-ts-bench/upstream-packages",
};
type Tool = keyof typeof PACKAGE_CACHES;

function conf(tool: Tool, packages: string): string {
  return `[Distribution]
Distribution=debian
Release=bookworm

[Output]
Format=directory
ImageId=bench

[Content]
Packages=${packages}

[Build]
Incremental=yes
PackageCacheDirectory=${PACKAGE_CACHES[tool]}
`;
}

function makeTree(tool: Tool): string {
  const dir = mkdtempSync(join(tmpdir(), "mkosi-bench-"));
  writeFileSync(join(dir, "mkosi.conf"), conf(tool, "systemd,udev,dbus"));
  mkdirSync(join(dir, "mkosi.extra/etc"), { recursive: true });
  writeFileSync(join(dir, "mkosi.extra/etc/motd"), "bench\n");
  mkdirSync(join(dir, "mkosi.cache"));
  mkdirSync(join(dir, "mkosi.sandbox/etc/apt/sources.list.d"), { recursive: true });
  // A copy of the host's Debian sources (upstream's defaults include debian-debug, which the mirror here
  // lacks). A copy, not a link: upstream copies sandbox trees as they are, and a link would dangle there.
  copyFileSync(
    "/etc/apt/sources.list.d/debian.sources",
    join(dir, "mkosi.sandbox/etc/apt/sources.list.d/mkosi.sources"),
  );
  return dir;
}

function timed(argv: string[], cwd: string): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(argv[0]!, argv.slice(1), {
    cwd,
    stdio: ["ignore", "ignore", "pipe"],
    encoding: "utf8",
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0)
    throw new Error(`${argv.join(" ")} failed in ${cwd}:\n${result.stderr.slice(-3000)}`);
  return seconds;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const SCENARIOS = ["cold", "noop", "noop-forced", "extra", "package"] as const;

/** One run of every scenario in a fresh tree. Upstream rebuilds with -f (plain `build` does nothing over an
 * existing output); its plain no-op is measured too. */
function runOnce(tool: Tool, command: string[], run: number, into: Record<string, number[]>): void {
  const dir = makeTree(tool);
  const rebuild = tool === "upstream" ? [...command, "-f", "build"] : [...command, "build"];
  try {
    into.cold!.push(timed([...command, "build"], dir));
    into.noop!.push(timed([...command, "build"], dir));
    if (tool === "upstream") into["noop-forced"]!.push(timed(rebuild, dir));
    writeFileSync(join(dir, "mkosi.extra/etc/motd"), `bench ${run}\n`);
    into.extra!.push(timed(rebuild, dir));
    writeFileSync(join(dir, "mkosi.conf"), conf(tool, "systemd,udev,dbus,less"));
    into.package!.push(timed(rebuild, dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const tools: [Tool, string[]][] = [["ours", [OURS]]];
if (UPSTREAM && existsSync(UPSTREAM)) tools.push(["upstream", [UPSTREAM]]);

// Warm each tool's own package cache, so both measure building, not downloading.
for (const [tool, command] of tools) {
  mkdirSync(PACKAGE_CACHES[tool], { recursive: true });
  const warm = makeTree(tool);
  const extraPackages = conf(tool, "systemd,udev,dbus,less");
  writeFileSync(join(warm, "mkosi.conf"), extraPackages);
  timed([...command, "build"], warm);
  rmSync(warm, { recursive: true, force: true });
}

const results: Record<Tool, Record<string, number[]>> = {
  ours: Object.fromEntries(SCENARIOS.map((name) => [name, []])),
  upstream: Object.fromEntries(SCENARIOS.map((name) => [name, []])),
};
for (let run = 0; run < RUNS; run++) {
  for (const [tool, command] of tools) {
    runOnce(tool, command, run, results[tool]);
    process.stderr.write(`${tool} run ${run + 1}/${RUNS} done\n`);
  }
}

const cell = (xs: number[] | undefined) => (xs && xs.length > 0 ? `${median(xs).toFixed(2)} s` : "–");
const rows = SCENARIOS.map((name) => {
  const ours = results.ours[name === "noop-forced" ? "noop" : name];
  const up = results.upstream[name];
  const ratio = ours && up && up.length > 0 ? (median(ours) / median(up)).toFixed(2) : "–";
  return `| ${name} | ${cell(ours)} | ${cell(up)} | ${ratio} |`;
});
process.stdout.write(
  `| scenario | ours (median of ${RUNS}) | upstream | ours/upstream |\n|---|---|---|---|\n${rows.join("\n")}\n`,
);
process.stdout.write(`\nraw: ${JSON.stringify(results)}\n`);
