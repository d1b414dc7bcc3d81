// Test files known to take minutes start first, so that on a 2-core CI machine they overlap with the many
// short files instead of running alone at the end (a clean clone has no timings from earlier runs, and
// vitest then keeps the glob's order). The rest follow vitest's own order.
import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/** Slowest first (durations of a full run on the CI machine). The disk tests take turns on one lock
 * (tests/disk/harness.ts) and run as one file, tests/disk/chain.test.ts. */
const SLOW_FIRST = [
  "tests/disk/chain.test.ts",
  "tests/differential/debian.test.ts",
  "tests/runtime/vm.test.ts",
  "tests/differential/custom.test.ts",
  "tests/config-fixtures.test.ts",
  "tests/pipeline/default-toolstree.test.ts",
  "tests/pipeline/systemd-style.test.ts",
];

export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const index = SLOW_FIRST.indexOf(relative(spec.project.config.root, spec.moduleId));
      return index === -1 ? SLOW_FIRST.length : index;
    };
    // Array.prototype.sort is stable: files not in the list keep vitest's order.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
