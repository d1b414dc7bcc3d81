// formats/: output producers and the steps around them. The registry (registry.ts: Format= value → its
// descriptor in descriptors/) says what each format is and which producer makes it; this module adds
// `buildOutputs`, which runs upstream's tail of a build on a finished root, in order:
//
//   split tar (SplitArtifacts=tar) · .nspawn copy · the format's output (compressed when the format
//   takes outer compression) · SHA256SUMS · signature · manifest/changelog · <Output> symlink
//
// into a staging directory. Post-output scripts run on the staging directory afterwards (tasks/), then
// `finalizeStaging` (outputdir.ts) moves everything into OutputDirectory=.
import { writeChecksums } from "./checksum.js";
import { type ManifestPackage, type PackageType, writeManifests } from "./manifest.js";
import { normalizeFormat, outputNames } from "./naming.js";
import { produceNone } from "./none.js";
import { copyNspawnSettings } from "./nspawn.js";
import { createOutputSymlink } from "./outputdir.js";
import { type ProduceContext, type ProduceResult, type Producer, produceSplitTar } from "./produce.js";
import { formatOf } from "./registry.js";
import { type SignOptions, signChecksums } from "./sign.js";
import { FormatError } from "./types.js";

export * from "./checksum.js";
export * from "./compress.js";
export * from "./cpio.js";
export * from "./descriptor.js";
export * from "./directory.js";
export * from "./manifest.js";
export * from "./mtime.js";
export * from "./naming.js";
export * from "./none.js";
export * from "./nspawn.js";
export * from "./outputdir.js";
export * from "./produce.js";
export * from "./registry.js";
export * from "./sign.js";
export * from "./tar.js";
export * from "./types.js";

/** Whether the format produces an output at all (false for none: no post-output steps either). */
export function producesOutput(format: string): boolean {
  return formatOf(normalizeFormat(format)).kind !== "none";
}

/** The producer of a Format= value; throws FormatError for an unknown format or one the pipeline's
 * steps make. */
export async function producerFor(format: string): Promise<Producer> {
  const descriptor = formatOf(normalizeFormat(format));
  if (descriptor.producer) return descriptor.producer();
  if (descriptor.kind === "none") return produceNone;
  // disk, esp, uki, sysext, …: made by pipeline steps (repart, uki) from more than the finished root.
  throw new FormatError(
    `Format=${descriptor.name} is made by the pipeline's steps, not by a producer of the root`,
  );
}

/** Runs the producer of `ctx.config.Format`. */
export async function produceOutput(ctx: ProduceContext): Promise<ProduceResult> {
  return (await producerFor(ctx.config.Format))(ctx);
}

export interface BuildOutputsOptions extends ProduceContext {
  /** Installed packages for ManifestFormat= (omit when no manifest is wanted). */
  packages?: ManifestPackage[];
  packageType?: PackageType;
  extension?: Record<string, string>;
  changelogs?:
    | Record<string, string | undefined>
    | ((source: string, firstBinary: string) => string | undefined);
  /** Options for gpg (GnuPG home, killAgent). */
  sign?: Omit<SignOptions, "tool" | "key" | "env" | "signal">;
}

export interface BuildOutputsResult {
  /** Name of the main output in staging (undefined for Format=none). */
  main: string | undefined;
  /** Every name written into staging, in order of creation. */
  files: string[];
}

/**
 * Upstream's output tail on a finished root: split tar, .nspawn, the output, SHA256SUMS, signature,
 * manifests, symlink, all into `ctx.staging`. Format=none does nothing. Unsupported formats throw
 * before anything is written.
 */
export async function buildOutputs(ctx: BuildOutputsOptions): Promise<BuildOutputsResult> {
  const cfg = ctx.config;
  const producer = await producerFor(cfg.Format);
  if (!producesOutput(cfg.Format)) return { main: undefined, files: [] };
  const names = outputNames(cfg);
  const files: string[] = [];
  // The split tar reads the root, so it goes before a producer that may consume it.
  files.push(...(await produceSplitTar(ctx)));
  const nspawn = await copyNspawnSettings(cfg.NSpawnSettings, ctx.staging, names.nspawn);
  if (nspawn) files.push(nspawn);
  const produced = await producer(ctx);
  files.push(...produced.files);
  if (cfg.Checksum) {
    await writeChecksums(ctx.staging, names.checksum);
    files.push(names.checksum);
    const sig = await signChecksums(ctx.staging, names, cfg, {
      ...ctx.sign,
      env: ctx.env,
      signal: ctx.signal,
    });
    if (sig) files.push(sig);
  }
  if (ctx.packages || ctx.extension) {
    files.push(
      ...(await writeManifests(ctx.staging, names, {
        config: cfg,
        packages: ctx.packages ?? [],
        packageType: ctx.packageType ?? "none",
        extension: ctx.extension,
        changelogs: ctx.changelogs,
      })),
    );
  }
  if (await createOutputSymlink(ctx.staging, names)) files.push(names.output);
  return { main: produced.main, files };
}
