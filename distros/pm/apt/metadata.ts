// Repository metadata: `apt-get update` into ctx.metadataDir (lists + source cache), reusable offline
// by every later operation.

import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { runSandboxed } from "../../../sandbox/run.js";
import { type AptDistribution, DistributionError, type PackageManagerContext } from "../../types.js";
import { sandboxFor } from "./sandbox.js";
import { writeConfig } from "./session.js";

export async function aptSyncMetadata(ctx: PackageManagerContext, d: AptDistribution): Promise<void> {
  const s = await writeConfig(ctx, d, false);
  await mkdir(join(ctx.metadataDir, "lists", "partial"), { recursive: true });
  await mkdir(join(ctx.metadataDir, "lists", "auxfiles"), { recursive: true });
  await mkdir(join(ctx.metadataDir, "cache"), { recursive: true });
  s.listsWritable = true;
  s.aptCache = join(ctx.metadataDir, "cache");
  try {
    await runSandboxed(
      [
        "apt-get",
        "-q",
        "-o",
        "Dir::State=/var/lib/apt",
        "-o",
        "Dir::State::Status=/dev/null",
        "-o",
        "APT::Update::Error-Mode=any",
        "update",
      ],
      sandboxFor(ctx, s, undefined, true),
    );
  } catch (e) {
    const repos = d.repositories(ctx.config);
    throw new DistributionError(
      `Fetching repository metadata for ${ctx.config.Distribution} ${ctx.config.Release} failed ` +
        `(repositories: ${repos.map((r) => `${r.uris.join(" ")} ${r.suites.join(" ")}`).join(", ")}): ${(e as Error).message}`,
    );
  }
  // Make the source cache (independent of any image's dpkg status) for later runs to reuse.
  await runSandboxed(
    ["apt-cache", "-o", "Dir::State=/var/lib/apt", "-o", "Dir::State::Status=/dev/null", "gencaches"],
    sandboxFor(ctx, s, undefined, false),
  ).catch(() => undefined);
  await rm(join(ctx.metadataDir, "cache", "pkgcache.bin"), { force: true });
  await rm(join(ctx.metadataDir, "cache", "archives"), { recursive: true, force: true });
  // The binary source cache records when it was generated: keep the metadata (and so the digest
  // downstream keys depend on) a function of the repositories' content only.
  await rm(join(ctx.metadataDir, "cache", "srcpkgcache.bin"), { force: true });
}
