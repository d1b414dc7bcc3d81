// Incremental = clean, checked by machine (real Debian): 20 random edits of a small bookworm image
// (packages, apt configuration, extra trees, scripts with apt, settings); after each, the incremental
// build's output must equal a clean build's (a fresh cache, the shared package cache). See options.ts for
// the environment variables that set the seed, replay a failure or reduce it.
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { debianVariant } from "./debian-variant.js";
import { missingPrerequisite, runFromEnvironment } from "./options.js";

const REPO = resolve(import.meta.dirname, "../..");
const skip = missingPrerequisite(REPO);

describe.skipIf(skip)("differential: Debian bookworm", () => {
  it("incremental output equals clean output after each of 20 random edits", async () => {
    const run = await runFromEnvironment(debianVariant, { seed: 20261203, steps: 20 });
    expect(run.report).toBe("");
    expect(run.steps.length - run.bothFailed).toBeGreaterThanOrEqual(run.steps.length * 0.8);
  }, 7_200_000);
});
