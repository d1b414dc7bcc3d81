// A change reverted behind an early cutoff: the build script changes (its node reruns) but its output is
// the one an earlier build made, so every step after it finds an older key in the cache, publish included.
// The output at the path holds the newer build's content, so publishing must run again: its key is only
// known once the build step has run, and the check is made then (acceptCached), not while planning.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { makeTree, runMkosi } from "./harness.js";

const CONF = "[Distribution]\nDistribution=custom\n\n[Output]\nFormat=directory\nOutput=image\n";
const script = (value: string, comment = "") =>
  `#!/bin/sh\n${comment}mkdir -p "$DESTDIR/etc"\necho ${value} > "$DESTDIR/etc/value"\n`;

it("a change reverted behind an early cutoff publishes the reverted output", async () => {
  const dir = await makeTree({ files: { "mkosi.conf": CONF, "mkosi.build": script("A") } });
  const env = { MKOSI_CACHE_DIR: join(dir, ".cache") };
  const build = async () => {
    const run = await runMkosi(["--json", "build"], { cwd: dir, env });
    expect(run.code, run.stderr).toBe(0);
    return run;
  };
  const value = () => readFileSync(join(dir, "image/etc/value"), "utf8");
  await build();
  expect(value()).toBe("A\n");
  writeFileSync(join(dir, "mkosi.build"), script("B"));
  await build();
  expect(value()).toBe("B\n");
  // Another script (a comment) with A's output: the build step reruns, everything after it is cached.
  writeFileSync(join(dir, "mkosi.build"), script("A", "# again\n"));
  const reverted = await build();
  expect(reverted.ran).toContain("main/build");
  expect(reverted.ran).toContain("main/publish");
  expect(value()).toBe("A\n");
  expect((await build()).ran).toEqual([]);
}, 300_000);
