// The producer contract and the producers of the simple formats (directory, tar, cpio).
//
// A producer turns a finished root tree into the main output inside a staging directory, named as
// naming.ts says (`withCompression`; for directory the same as `withFormat`). It never touches the
// output directory: outputdir.ts moves the staging entries there at the very end.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { makeCpio } from "./cpio.js";
import { copyTree, placeDirectory } from "./directory.js";
import { normalizeCompression, outputNames } from "./naming.js";
import { makeTar } from "./tar.js";
import type { OutputConfig, RunOptions } from "./types.js";

export interface ProduceContext extends RunOptions {
  /** The finished image root (a plain directory, already flattened). */
  root: string;
  /** Where outputs are written (created by the caller, on the same filesystem as `root` ideally). */
  staging: string;
  /** The image's resolved config (summary --json names). */
  config: OutputConfig;
  /**
   * The caller hands `root` over: producers may consume it (Format=directory renames it instead of
   * copying). Default false: `root` is left as it was, except that with SourceDateEpoch the cpio
   * producer clamps its times (upstream's mtime normalization of the root).
   */
  ownsRoot?: boolean;
  /** Scratch space the producer may use (removed by the caller); default: next to the outputs. */
  tmp?: string;
}

export interface ProduceResult {
  /** Name (in staging) of the main output, undefined when the format produces none. */
  main: string | undefined;
  /** Names (in staging) of every entry the producer wrote, main output first. */
  files: string[];
}

export type Producer = (ctx: ProduceContext) => Promise<ProduceResult>;

/** Format=directory: the root becomes `<staging>/<Output>` (renamed when owned, else copied). */
export async function produceDirectory(ctx: ProduceContext): Promise<ProduceResult> {
  const names = outputNames(ctx.config);
  await placeDirectory(ctx.root, join(ctx.staging, names.withFormat), {
    move: ctx.ownsRoot === true,
    signal: ctx.signal,
    env: ctx.env,
  });
  return { main: names.withFormat, files: [names.withFormat] };
}

/** An archive format: `<Output>.<ext>[.zst]`, streamed through the compressor. */
function archiveProducer(make: typeof makeTar | typeof makeCpio): Producer {
  return async (ctx) => {
    const names = outputNames(ctx.config);
    await make(ctx.root, join(ctx.staging, names.withCompression), {
      compression: names.outerCompression,
      level: ctx.config.CompressLevel,
      sourceDateEpoch: ctx.config.SourceDateEpoch,
      signal: ctx.signal,
      env: ctx.env,
    });
    return { main: names.withCompression, files: [names.withCompression] };
  };
}

/** Format=tar: `<Output>.tar[.zst]`. */
export const produceTar: Producer = archiveProducer(makeTar);

/** Format=cpio: `<Output>.cpio[.zst]` (with SourceDateEpoch=, the root's times are clamped first). */
export const produceCpio: Producer = archiveProducer(makeCpio);

/** Format=cpio from a root the producer must leave alone: cpio cannot override mtimes, so with
 * SourceDateEpoch= it archives a private copy whose times are clamped (in `ctx.tmp`). */
export const produceCpioCopy: Producer = async (ctx) => {
  if (ctx.ownsRoot || ctx.config.SourceDateEpoch === null || ctx.config.SourceDateEpoch === undefined)
    return produceCpio(ctx);
  const copy = join(ctx.tmp ?? ctx.staging, ".cpio-root");
  await copyTree(ctx.root, copy, { signal: ctx.signal, env: ctx.env });
  try {
    return await produceCpio({ ...ctx, root: copy, ownsRoot: true });
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
};

/**
 * SplitArtifacts=tar for formats other than tar: `<Output>.tar[.<comp>]` next to the main output,
 * compressed with CompressOutput= (upstream names it with the suffix but writes it uncompressed; we
 * compress it so the name tells the truth). Returns the names written.
 */
export async function produceSplitTar(ctx: ProduceContext): Promise<string[]> {
  const cfg = ctx.config;
  if (cfg.Format === "tar" || !(cfg.SplitArtifacts ?? []).includes("tar")) return [];
  const names = outputNames(cfg);
  await makeTar(ctx.root, join(ctx.staging, names.tar), {
    compression: normalizeCompression(cfg.CompressOutput),
    level: cfg.CompressLevel,
    sourceDateEpoch: cfg.SourceDateEpoch,
    signal: ctx.signal,
    env: ctx.env,
  });
  return [names.tar];
}
