// Config parsing benchmark: a systemd-sized tree (10 subimages, 100 drop-ins, profiles, matches) parsed
// and printed with `--json summary` in a fresh process, ours vs. upstream mkosi ($MKOSI_UPSTREAM, a
// command; skipped when unset). Run by hand: `node dist/bench/config-parse.js [runs]`.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const RUNS = Number(process.argv[2] ?? 15);

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** A tree shaped like systemd's mkosi/ configuration, scaled up. */
export function makeTree(): string {
  const dir = mkdtempSync(join(tmpdir(), "mkosi-config-bench-"));
  write(
    join(dir, "mkosi.conf"),
    "[Config]\nProfiles=default\nDependencies=img0,img1,img2,img3,img4,img5,img6,img7,img8,img9\n\n[Distribution]\nDistribution=debian\nRelease=bookworm\nArchitecture=x86-64\n\n[Output]\nFormat=disk\nImageId=systemd\nOutputDirectory=mkosi.output\n\n[Content]\nPackages=systemd,udev,dbus\nKernelCommandLine=console=ttyS0\n\n[Build]\nEnvironment=A=1 B=2\n",
  );
  mkdirSync(join(dir, "mkosi.output"));
  for (let i = 0; i < 100; i++) {
    const match =
      i % 3 === 0
        ? "[Match]\nDistribution=|debian\nDistribution=|ubuntu\n\n"
        : i % 3 === 1
          ? "[Match]\nRelease=!sid\n\n"
          : "";
    write(
      join(dir, "mkosi.conf.d", `${String(i).padStart(3, "0")}-dropin.conf`),
      `${match}[Content]\nPackages=pkg${i}a,pkg${i}b\nRemoveFiles=/usr/share/doc/pkg${i}\n\n[Build]\nEnvironment=VAR${i}=value${i}\n`,
    );
  }
  for (const profile of ["default", "minimal", "debug"])
    write(join(dir, "mkosi.profiles", profile, "mkosi.conf"), `[Content]\nPackages=${profile}-tools\n`);
  for (let i = 0; i < 10; i++) {
    write(
      join(dir, "mkosi.images", `img${i}`, "mkosi.conf"),
      `[Config]\n${i > 0 ? `Dependencies=img${i - 1}\n` : ""}\n[Output]\nFormat=${i % 2 ? "sysext" : "directory"}\n\n[Content]\nPackages=extra${i}\nBaseTrees=%O/img${Math.max(0, i - 1)}\n`,
    );
    write(
      join(dir, "mkosi.images", `img${i}`, "mkosi.conf.d", "10-match.conf"),
      "[Match]\nFormat=sysext\n\n[Content]\nRemoveFiles=/etc\n",
    );
  }
  return dir;
}

function time(command: string[], cwd: string): number[] {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    const result = spawnSync(command[0]!, [...command.slice(1), "--json", "summary"], {
      cwd,
      encoding: "utf8",
      env: { ...process.env, MKOSI_HOST_DISTRIBUTION: "debian", MKOSI_HOST_RELEASE: "bookworm" },
    });
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (result.status !== 0) throw new Error(`${command.join(" ")} failed:\n${result.stderr}`);
  }
  return samples.sort((a, b) => a - b);
}

const dir = makeTree();
const report = (label: string, samples: number[]) =>
  `| ${label} | ${samples[Math.floor(samples.length / 2)]!.toFixed(0)} ms | ${samples[0]!.toFixed(0)} ms |`;
const rows = [report("ours", time([join(REPO, "bin/mkosi")], dir))];
const upstream = process.env.MKOSI_UPSTREAM;
if (upstream) rows.push(report("upstream", time(upstream.split(" "), dir)));
process.stdout.write(`tree: ${dir}\n| tool | median of ${RUNS} | min |\n|---|---|---|\n${rows.join("\n")}\n`);
