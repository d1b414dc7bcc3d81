import { defineConfig } from "vitest/config";
import { SlowFirstSequencer } from "./tests/sequencer.js";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 600_000,
    pool: "forks",
    // vitest's default is one worker fewer than the CPUs: a single worker on the 2-core CI machine, where
    // the suite ran file after file. Most test time is waiting (apt downloads, dpkg, qemu, the disk lock),
    // so two workers share the two cores well.
    maxWorkers: 2,
    sequence: { sequencer: SlowFirstSequencer },
  },
});
