// Real Debian builds for the safety suite: config trees that use the host's mirror (tests/pipeline/
// harness.ts), the shared package cache, and one engine cache shared by the suite's Debian tests (kept
// between runs like the package cache), so the bootstrap layer they have in common is built once.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { PACKAGE_CACHE } from "../pipeline/harness.js";

export { makeTree, PACKAGE_CACHE, runMkosi } from "../pipeline/harness.js";

/** The engine cache of the suite's Debian builds. */
export const SAFETY_GRAPH =
  process.env.MKOSI_TEST_SAFETY_GRAPH ?? join(dirname(PACKAGE_CACHE), "safety-graph");

/** mkosi.conf of a small bookworm directory image, with more lines for [Content]. */
export function debianConf(content: string[] = [], output: string[] = []): string {
  return [
    "[Distribution]",
    "Distribution=debian",
    "Release=bookworm",
    "",
    "[Output]",
    "Format=directory",
    "ImageId=safety",
    ...output,
    "",
    "[Content]",
    ...content,
    "",
    "[Build]",
    `PackageCacheDirectory=${PACKAGE_CACHE}`,
    "",
  ].join("\n");
}

/** Why real Debian builds cannot run here, or undefined. */
export function missingDebianPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return "mkosi build needs root";
  for (const tool of ["bwrap", "apt-get", "dpkg"])
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  return undefined;
}
