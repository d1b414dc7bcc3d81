// Item 8 of the safety issue: a Packages= entry that starts with "-" must reach apt-get as a package name,
// never as an option (upstream passes them as they are; we end the options with "--"). An entry that sets
// a dpkg hook must not run it: apt reports a package it cannot find instead.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { debianConf, makeTree, missingDebianPrerequisite, runMkosi, SAFETY_GRAPH } from "./debian.js";

const skip = missingDebianPrerequisite();

describe.skipIf(skip !== undefined)(`Packages= entries${skip ? ` (skipped: ${skip})` : ""}`, () => {
  it("that look like options are package names to apt-get", async () => {
    const dir = await makeTree({
      files: {
        "mkosi.conf": debianConf(["Packages=dbus", `  -oDPkg::Pre-Invoke::=touch$\{IFS}/buildroot/hook-ran`]),
      },
    });
    const run = await runMkosi(["build"], { cwd: dir, env: { MKOSI_CACHE_DIR: SAFETY_GRAPH } });
    expect(existsSync(join(dir, "safety/hook-ran"))).toBe(false);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("Unable to locate package -oDPkg::Pre-Invoke::");
  }, 900_000);
});
