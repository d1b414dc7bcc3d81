// The remote cache on a real build: the Debian bookworm example (Packages=systemd,udev,dbus) and a local
// docker-registry (Debian's package; storage in a temporary directory, plain HTTP on a free port).
//   cold-local   a fresh tree and an empty cache, no remote: what every machine pays without one
//   cold-remote  a fresh tree and an empty cache, --cache-remote with a registry that CI filled
//   noop         the same tree rebuilt, without --cache-remote, and with it (a local hit never asks
//                the registry, so the two should not differ)
// Every build uses the same warm package cache (so cold-local measures building, not downloading) and one
// secret key (MKOSI_CACHE_SECRET_KEY), so the node with RootPassword= is shared too. Runs alternate.
// Prints medians; run by hand: `npm run build && node dist/bench/remote.js [runs] [noop-runs]`.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const MKOSI = join(REPO, "bin/mkosi");
const EXAMPLE = join(REPO, "examples/bookworm");
const RUNS = Number(process.argv[2] ?? 3);
const NOOP_RUNS = Number(process.argv[3] ?? 7);
const PACKAGE_CACHE = process.env.MKOSI_BENCH_PACKAGE_CACHE ?? "/var/cache/mkosi-ts-bench/packages";
const SECRET_KEY = "b3".repeat(32);

function freePort(): Promise<number> {
  return new Promise((res) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => res(port));
    });
  });
}

async function startRegistry(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: error",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(dir, "storage")}`,
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "  secret: bench",
      "",
    ].join("\n"),
  );
  const child = spawn("/usr/bin/docker-registry", ["serve", config], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    const r = spawnSync("curl", [
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      `http://127.0.0.1:${port}/v2/`,
    ]);
    if (r.stdout?.toString() === "200") return { url: `http://127.0.0.1:${port}/bench/bookworm`, child };
    await new Promise((r2) => setTimeout(r2, 100));
  }
  throw new Error("docker-registry did not start");
}

function makeTree(): string {
  const dir = mkdtempSync(join(tmpdir(), "mkosi-bench-remote-"));
  const conf = readFileSync(join(EXAMPLE, "mkosi.conf"), "utf8");
  writeFileSync(join(dir, "mkosi.conf"), `${conf}\n[Build]\nPackageCacheDirectory=${PACKAGE_CACHE}\n`);
  mkdirSync(join(dir, "mkosi.extra/etc"), { recursive: true });
  copyFileSync(join(EXAMPLE, "mkosi.extra/etc/motd"), join(dir, "mkosi.extra/etc/motd"));
  mkdirSync(join(dir, "mkosi.sandbox/etc/apt/sources.list.d"), { recursive: true });
  copyFileSync(
    "/etc/apt/sources.list.d/debian.sources",
    join(dir, "mkosi.sandbox/etc/apt/sources.list.d/mkosi.sources"),
  );
  return dir;
}

function timed(args: string[], cwd: string): { seconds: number; summary: string } {
  const start = process.hrtime.bigint();
  const result = spawnSync(MKOSI, args, {
    cwd,
    stdio: ["ignore", "ignore", "pipe"],
    encoding: "utf8",
    env: {
      ...process.env,
      MKOSI_CACHE_DIR: join(cwd, ".cache"),
      MKOSI_CACHE_SECRET_KEY: SECRET_KEY,
      CI: "1",
    },
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0)
    throw new Error(`mkosi ${args.join(" ")} failed in ${cwd}:\n${result.stderr.slice(-3000)}`);
  const summary = result.stderr.split("\n").find((l) => l.startsWith("Build finished")) ?? "";
  if (/WARNING/.test(result.stderr)) throw new Error(`warnings in ${cwd}:\n${result.stderr}`);
  return { seconds, summary };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const work = mkdtempSync(join(tmpdir(), "mkosi-bench-registry-"));
const registry = await startRegistry(work);
const results: Record<string, number[]> = {
  "cold-local": [],
  "cold-remote": [],
  noop: [],
  "noop-remote": [],
};
let pulledSummary = "";
try {
  // CI: fills the registry (and warms the package cache).
  mkdirSync(PACKAGE_CACHE, { recursive: true });
  const ci = makeTree();
  process.stderr.write(
    `CI build: ${timed(["--cache-remote", registry.url, "--cache-push", "build"], ci).summary}\n`,
  );
  rmSync(ci, { recursive: true, force: true });
  for (let run = 0; run < RUNS; run++) {
    const local = makeTree();
    const remote = makeTree();
    try {
      results["cold-local"]!.push(timed(["build"], local).seconds);
      const r = timed(["--cache-remote", registry.url, "build"], remote);
      results["cold-remote"]!.push(r.seconds);
      pulledSummary = r.summary;
      for (let i = 0; i < NOOP_RUNS; i++) {
        results.noop!.push(timed(["build"], remote).seconds);
        results["noop-remote"]!.push(timed(["--cache-remote", registry.url, "build"], remote).seconds);
      }
    } finally {
      rmSync(local, { recursive: true, force: true });
      rmSync(remote, { recursive: true, force: true });
    }
    process.stderr.write(`run ${run + 1}/${RUNS} done\n`);
  }
} finally {
  registry.child.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
}

const cell = (xs: number[]) => `${median(xs).toFixed(2)} s (min ${Math.min(...xs).toFixed(2)})`;
process.stdout.write(`| scenario | median (min) |\n|---|---|\n`);
for (const [name, xs] of Object.entries(results)) process.stdout.write(`| ${name} | ${cell(xs)} |\n`);
process.stdout.write(
  `\ncold-remote / cold-local: ${(median(results["cold-remote"]!) / median(results["cold-local"]!)).toFixed(2)}\n`,
);
process.stdout.write(
  `noop-remote - noop: ${(median(results["noop-remote"]!) - median(results.noop!)).toFixed(3)} s\n`,
);
process.stdout.write(`last cold-remote: ${pulledSummary}\n`);
process.stdout.write(`\nraw: ${JSON.stringify(results)}\n`);
