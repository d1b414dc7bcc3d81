// Regression tests of mismatches found by the differential test whose fix lies outside the differential
// branch (engine/, shared tasks/ modules, or another branch's area). They fail until fixed, so they are
// not part of the default run: `npx vitest run -c tests/differential/pending/vitest.config.ts`. Once one
// passes, rename it to <name>.test.ts (the default run picks it up) and drop its PENDING note.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    root: new URL("../../..", import.meta.url).pathname,
    include: ["tests/differential/pending/*.pending.ts"],
    testTimeout: 120_000,
    pool: "forks",
    // None is open right now; the command stays the way to run them.
    passWithNoTests: true,
  },
});
