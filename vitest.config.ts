import { defineConfig } from "vitest/config";
import { SlowFirstSequencer } from "./tests/sequencer.js";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 600_000,
    pool: "forks",
    sequence: { sequencer: SlowFirstSequencer },
  },
});
