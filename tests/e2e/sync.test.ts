// Sync scripts run in a run of their own before the image graph; the user still sees one build: one
// "done" event and one summary line that count both.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeTree, runMkosi } from "../pipeline/harness.js";
import { missingPrerequisite } from "./helpers.js";

const CONF = "[Distribution]\nDistribution=custom\n\n[Output]\nFormat=directory\n";

describe.skipIf(missingPrerequisite())("sync scripts", () => {
  it("are part of the one build summary", async () => {
    const dir = await makeTree({ files: { "mkosi.conf": CONF, "mkosi.sync": "#!/bin/sh\necho sync ran\n" } });
    const env = { MKOSI_CACHE_DIR: join(dir, ".cache") };
    const first = await runMkosi(["--json", "build"], { cwd: dir, env });
    expect(first.code, first.stderr).toBe(0);
    const done = first.events.filter((e) => e.type === "done");
    expect(done).toHaveLength(1);
    expect(first.ran).toContain("main/sync");
    expect(done[0]).toMatchObject({ ok: true, ran: first.ran.length, cached: 0 });

    // Sync scripts run every time; everything else is cached, and the plain summary says so once.
    const again = await runMkosi(["build"], { cwd: dir, env });
    expect(again.code, again.stderr).toBe(0);
    const summaries = again.stderr.split("\n").filter((line) => line.startsWith("Build finished"));
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatch(new RegExp(`1 node run, ${first.ran.length - 1} cached`));
  }, 60_000);
});
