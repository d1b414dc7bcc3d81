// What the boot steps hand each other through artifact metadata.
import { copyFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Json } from "../engine/api.js";

/** The kernel step's metadata: the kernels found (newest first) and whether a microcode initrd exists.
 * Its artifact holds <version>/vmlinuz, <version>/modules.initrd and microcode.initrd. */
export interface KernelMeta {
  kernels: { version: string; image: string }[];
  microcode: boolean;
  [key: string]: Json;
}

function osReleaseField(text: string, key: string): string | undefined {
  const match = new RegExp(`^${key}=(.*)$`, "m").exec(text);
  return match?.[1]?.replace(/^["']|["']$/g, "");
}

/** Copy the first of `roots` that has the addon stub `stub` (a path below a root) to `dest`; false when
 * none has it. (Format=addon and UKI profiles take the image's, else the tools tree's.) */
export async function copyFirstStub(roots: readonly string[], stub: string, dest: string): Promise<boolean> {
  for (const root of roots) {
    const copied = await copyFile(join(root, stub), dest).then(
      () => true,
      () => false,
    );
    if (copied) return true;
  }
  return false;
}

/** The image's os-release (etc/ first, then usr/lib/) in a tree (boot-scan's artifact). */
export async function osReleaseOf(root: string): Promise<{ path: string; text: string } | undefined> {
  for (const path of ["etc/os-release", "usr/lib/os-release"]) {
    const text = await readFile(join(root, path), "utf8").catch(() => undefined);
    if (text !== undefined) return { path, text };
  }
  return undefined;
}

/** The boot loader entry token: ImageId=, else the image's IMAGE_ID= or ID= (as kernel-install would
 * pick it for an image without a machine id), else the distribution. */
export function entryToken(osRelease: string, imageId: string | null, distribution: string): string {
  return imageId ?? osReleaseField(osRelease, "IMAGE_ID") ?? osReleaseField(osRelease, "ID") ?? distribution;
}

/** Where the uki step keeps the newest UKI's PCR policy digests (SplitArtifacts=pcrs) in its artifact. */
export const PCRS_FILE = "pcrs.json";

/** Settings formats/boot.ts reads to decide which boot steps an image has: they shape the graph (which
 * nodes exist and what they depend on), which keys cover through the dependencies. */
export const SHAPE_ONLY = {
  Bootable: "only whether the image boots, which the graph's shape says (this node exists)",
  Bootloader: "only which boot steps exist (the graph's shape)",
  BiosBootloader: "only which boot steps exist (the graph's shape)",
  ShimBootloader: "only whether a UKI boot loader gets a bootloader step for shim (the graph's shape)",
  Packages: "only whether a kernel package makes Bootable=auto boot (the graph's shape)",
  VolatilePackages: "only whether a kernel package makes Bootable=auto boot (the graph's shape)",
  Initrds: "only whether there is a default initrd to depend on (the graph's shape)",
  RepartDirectories: "only whether the UKI waits for a verity root hash (the graph's shape)",
  KernelCommandLine:
    "only whether the UKI waits for the disk's partition UUIDs (root=PARTUUID; the graph's shape)",
  UnifiedKernelImages: "only whether grub's entries wait for the disk's partition UUIDs (the graph's shape)",
  Checksum: "only whether a checksum node follows (the graph's shape)",
  Sign: "only whether a checksum node follows (the graph's shape)",
  ManifestFormat: "only whether a manifest node follows (the graph's shape)",
} as const;

/** What formats/boot.ts reads, for Step.reads of the steps that call it. */
export const BOOT_SHAPE_READS = [
  "Format",
  "Bootable",
  "Bootloader",
  "BiosBootloader",
  "ShimBootloader",
  "Packages",
  "VolatilePackages",
  "Initrds",
  "SplitArtifacts",
  "RepartDirectories",
  "KernelCommandLine",
  "UnifiedKernelImages",
  "Checksum",
  "Sign",
  "ManifestFormat",
] as const;
