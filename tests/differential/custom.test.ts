// Incremental = clean, checked by machine (fast variant): 200 random edits of a Distribution=custom
// configuration tree; after each, the incremental build's output must equal a clean build's. See
// options.ts for the environment variables that set the seed, replay a failure or reduce it.
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { customVariant } from "./custom-variant.js";
import { missingPrerequisite, runFromEnvironment } from "./options.js";

const REPO = resolve(import.meta.dirname, "../..");
const skip = missingPrerequisite(REPO);

describe.skipIf(skip)("differential: Distribution=custom", () => {
  it("incremental output equals clean output after each of 200 random edits", async () => {
    const run = await runFromEnvironment(customVariant, { seed: 20261203, steps: 200 });
    expect(run.report).toBe("");
    // Enough of the steps built something (an edit may make an invalid tree, which both builds reject).
    expect(run.steps.length - run.bothFailed).toBeGreaterThanOrEqual(run.steps.length * 0.8);
  }, 3_600_000);
});
