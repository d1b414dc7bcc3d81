// Reproducibility: two cold builds (separate caches) of a tar image with SourceDateEpoch= are
// byte-identical.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeTree, PACKAGE_CACHE, runMkosi } from "./harness.js";

const CONF = `[Distribution]
Distribution=debian
Release=bookworm

[Output]
Format=tar
ImageId=repro

[Content]
Packages=dbus
SourceDateEpoch=1700000000
Hostname=repro
RootPassword=repro

[Build]
PackageCacheDirectory=${PACKAGE_CACHE}
`;

async function coldBuild(): Promise<string> {
  const dir = await makeTree({ files: { "mkosi.conf": CONF, "mkosi.extra/etc/motd": "reproducible\n" } });
  const run = await runMkosi(["build"], { cwd: dir, env: { MKOSI_CACHE_DIR: join(dir, ".cache") } });
  if (run.code !== 0) throw new Error(`build failed:\n${run.stderr}`);
  return createHash("sha256")
    .update(readFileSync(join(dir, "repro.tar.zst")))
    .digest("hex");
}

describe("reproducibility", () => {
  it("two cold tar builds with SourceDateEpoch= are byte-identical", async () => {
    const first = await coldBuild();
    const second = await coldBuild();
    expect(second).toBe(first);
  }, 1_200_000);
});
