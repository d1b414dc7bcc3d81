// Side-by-side benchmark of a real Debian bookworm build (Packages=systemd,udev,dbus, Incremental=yes):
// ours vs. upstream mkosi (path in $MKOSI_UPSTREAM, e.g. a checkout's bin/mkosi; skipped when unset).
// Scenarios: cold directory build, no-op rebuild (upstream needs -f, or it refuses), one file changed in
// mkosi.extra/, one package added. Prints medians; run by hand: `node dist/bench/pipeline.js [runs]`.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const OURS = join(REPO, "bin/mkosi");
const UPSTREAM = process.env.MKOSI_UPSTREAM;
const RUNS = Number(process.argv[2] ?? 3);
const PACKAGE_CACHE = process.env.MKOSI_BENCH_PACKAGE_CACHE ?? "/var/cache/mkosi-ts-bench/packages";

function conf(packages: string): string {
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
PackageCacheDirectory=${PACKAGE_CACHE}
`;
}

function makeTree(): string {
  const dir = mkdtempSync(join(tmpdir(), "mkosi-bench-"));
  writeFileSync(join(dir, "mkosi.conf"), conf("systemd,udev,dbus"));
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

interface Scenario {
  name: string;
  seconds: number[];
}

function runTool(label: string, command: string[], forceForRebuild: boolean): Scenario[] {
  const scenarios: Record<string, number[]> = { cold: [], noop: [], extra: [], package: [] };
  const rebuild = forceForRebuild ? [...command, "-f", "build"] : [...command, "build"];
  for (let run = 0; run < RUNS; run++) {
    const dir = makeTree();
    try {
      scenarios.cold!.push(timed([...command, "build"], dir));
      scenarios.noop!.push(timed(rebuild, dir));
      writeFileSync(join(dir, "mkosi.extra/etc/motd"), `bench ${run}\n`);
      scenarios.extra!.push(timed(rebuild, dir));
      writeFileSync(join(dir, "mkosi.conf"), conf("systemd,udev,dbus,less"));
      scenarios.package!.push(timed(rebuild, dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    process.stderr.write(`${label} run ${run + 1}/${RUNS} done\n`);
  }
  return Object.entries(scenarios).map(([name, seconds]) => ({ name, seconds }));
}

mkdirSync(PACKAGE_CACHE, { recursive: true });
// Warm the package cache once so both tools measure building, not downloading.
const warm = makeTree();
process.env.MKOSI_CACHE_DIR = join(warm, ".cache");
timed([OURS, "build"], warm);
rmSync(warm, { recursive: true, force: true });

const results: Record<string, Scenario[]> = {};

delete process.env.MKOSI_CACHE_DIR;
results.ours = runTool("ours", [OURS], false);
if (UPSTREAM && existsSync(UPSTREAM)) results.upstream = runTool("upstream", [UPSTREAM], true);

const rows = ["cold", "noop", "extra", "package"].map((name) => {
  const ours = median(results.ours!.find((s) => s.name === name)!.seconds);
  const up = results.upstream ? median(results.upstream.find((s) => s.name === name)!.seconds) : undefined;
  return `| ${name} | ${ours.toFixed(2)} s | ${up !== undefined ? `${up.toFixed(2)} s` : "–"} | ${up !== undefined ? (ours / up).toFixed(2) : "–"} |`;
});
process.stdout.write(
  `| scenario | ours (median of ${RUNS}) | upstream | ours/upstream |\n|---|---|---|---|\n${rows.join("\n")}\n`,
);
process.stdout.write(`\nraw: ${JSON.stringify(results)}\n`);
