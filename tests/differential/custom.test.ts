// Incremental = clean, checked by machine (fast variant): random edits of a Distribution=custom
// configuration tree; after each, the incremental build's output must equal a clean build's, entry by entry
// (type, mode, owner, size, xattrs, link target, content hash). The seed is printed (stderr) and every
// mismatch reports how to replay it. STEPS keeps `npm test` under 4 minutes on 2 shared cores (60 edits:
// 2 min 40 s at a load average of 5 to 7); MKOSI_DIFF_STEPS=<n> (and MKOSI_DIFF_SEED=random) for longer local runs.
// See options.ts for the other environment variables (replay, reduce, keep going).
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { customVariant } from "./custom-variant.js";
import { missingPrerequisite, runFromEnvironment } from "./options.js";

const REPO = resolve(import.meta.dirname, "../..");
const skip = missingPrerequisite(REPO);
const STEPS = 60;

describe.skipIf(skip)("differential: Distribution=custom", () => {
  it("incremental output equals clean output after each random edit", async () => {
    const run = await runFromEnvironment(customVariant, { seed: 20261203, steps: STEPS });
    expect(run.report).toBe("");
    expect(run.steps.length).toBeGreaterThan(0);
    // Enough of the steps built something (an edit may make an invalid tree, which both builds reject).
    expect(run.steps.length - run.bothFailed).toBeGreaterThanOrEqual(run.steps.length * 0.8);
  }, 3_600_000);
});
