// Environment variables of the differential tests (all optional):
//   MKOSI_DIFF_SEED=<n>|random  the seed of the edit generator (default: the variant's fixed seed)
//   MKOSI_DIFF_STEPS=<n>        how many edit steps (default: the variant's count)
//   MKOSI_DIFF_REPLAY=<file>    replay the steps recorded in a replay.json (written on every mismatch)
//   MKOSI_DIFF_KEEP_GOING=1     after a mismatch, start the incremental side again and go on (finds more)
//   MKOSI_DIFF_REDUCE=1         after a mismatch, look for the shortest sequence of steps that shows it
//   MKOSI_DIFF_KEEP=1           keep the work directory (always kept after a mismatch)
//   MKOSI_DIFF_VERBOSE=1        print every step
//   MKOSI_DIFF_WITHOUT=a,b      leave features out of the variant (see the variant), to look for other
//                               mismatches while known ones are open (default: the variant's pending ones;
//                               empty: none left out)
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Step } from "./generator.js";
import { randomSeed } from "./prng.js";
import { formatMismatch, type RunResult, reduce, runDifferential, type Variant } from "./runner.js";

export interface DifferentialRun extends RunResult {
  /** The report of every mismatch (empty when none). */
  report: string;
}

/** Why the differential tests cannot run here, or undefined. */
export function missingPrerequisite(repo: string): string | undefined {
  if (process.getuid?.() !== 0) return "mkosi build needs root";
  if (!existsSync(join(repo, "dist/cli/main.js"))) return "dist/ is missing: run npm run build";
  return undefined;
}

/** Run a variant as the environment asks; the report says how to replay any mismatch. */
export async function runFromEnvironment(
  variant: Variant,
  defaults: { seed: number; steps: number },
): Promise<DifferentialRun> {
  const env = process.env;
  const seed =
    env.MKOSI_DIFF_SEED === "random"
      ? randomSeed()
      : env.MKOSI_DIFF_SEED
        ? Number(env.MKOSI_DIFF_SEED)
        : defaults.seed;
  const steps = env.MKOSI_DIFF_STEPS ? Number(env.MKOSI_DIFF_STEPS) : defaults.steps;
  const replay = env.MKOSI_DIFF_REPLAY
    ? (JSON.parse(readFileSync(env.MKOSI_DIFF_REPLAY, "utf8")) as { seed: number; steps: Step[] })
    : undefined;
  const work = mkdtempSync(join(tmpdir(), `mkosi-differential-${variant.name}-`));
  const verbose = env.MKOSI_DIFF_VERBOSE === "1";
  const log = (line: string) => {
    if (verbose || line.startsWith("MISMATCH")) process.stderr.write(`${line}\n`);
  };
  const options = {
    variant,
    seed: replay?.seed ?? seed,
    steps,
    work: join(work, "run"),
    replay: replay?.steps,
    keepGoing: env.MKOSI_DIFF_KEEP_GOING === "1",
    log,
  };
  log(
    `differential ${variant.name}: seed ${options.seed}, ${replay ? `${replay.steps.length} replayed` : steps} steps, in ${work}`,
  );
  const result = await runDifferential(options);
  const seconds = (ms: number) => `${(ms / 1000).toFixed(0)} s`;
  process.stderr.write(
    `differential ${variant.name}: seed ${options.seed}, ${result.steps.length} steps, ${result.mismatches.length} mismatches, ${result.bothFailed} edits rejected by both builds; incremental builds ${seconds(result.builds.incrementalMs)}, clean builds ${seconds(result.builds.cleanMs)}\n`,
  );
  if (variant.without?.length)
    process.stderr.write(`  left out (known mismatches, see pending/): ${variant.without.join(", ")}\n`);
  const coverage = Object.entries(result.coverage).sort(([a], [b]) => (a < b ? -1 : 1));
  process.stderr.write(
    `  steps run by the incremental builds: ${coverage.map(([k, n]) => `${k} ${n}`).join(", ")}\n`,
  );
  const reports = result.mismatches.map((m) => formatMismatch(m, options, result.steps));
  if (result.mismatches.length > 0 && env.MKOSI_DIFF_REDUCE === "1") {
    const first = result.mismatches[0]!;
    const reduced = await reduce(
      variant,
      result.steps.slice(0, first.step),
      first.differences.map((d) => d.path),
      join(work, "reduce"),
      log,
    );
    reports.push(
      `REDUCED to ${reduced.length} steps (replay with MKOSI_DIFF_REPLAY of a file holding {"seed":${options.seed},"steps":[…]}):\n${JSON.stringify(reduced, null, 1)}`,
    );
  }
  if (result.mismatches.length === 0 && env.MKOSI_DIFF_KEEP !== "1")
    rmSync(work, { recursive: true, force: true });
  return { ...result, report: reports.join("\n\n") };
}
