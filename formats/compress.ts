// Outer compression (`CompressOutput=`, `CompressLevel=`), as upstream runs it:
//   zstd: zstd -q -<level> -T0 --stdout -
//   xz:   xz --check=crc32 -<level> -T0 --stdout -
//   gz:   pigz|gzip --no-name -<level> --stdout -      (pigz when installed)
// bz2, lz4 and lzma are accepted by the config parser but fail here ("Unknown compression").
// Every command reads stdin and writes stdout, so producers stream through them without temp copies.
import { existsSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { runPipelineToFile } from "./exec.js";
import { normalizeCompression } from "./naming.js";
import { type Compression, FormatError, type RunOptions } from "./types.js";

/** Upstream's default `CompressLevel=`. */
export const DEFAULT_COMPRESS_LEVEL = 3;

function findInPath(
  binary: string,
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  for (const dir of (env.PATH ?? "/usr/bin:/bin").split(delimiter)) {
    if (dir && existsSync(join(dir, binary))) return join(dir, binary);
  }
  return undefined;
}

/** `pigz` when it is on PATH, else `gzip`. */
export function gzipBinary(env?: Record<string, string | undefined>): string {
  return findInPath("pigz", env) ? "pigz" : "gzip";
}

/**
 * The stdin→stdout compressor command for a compression, or undefined for "none".
 * Throws FormatError("Unknown compression X") for compressions upstream cannot write (bz2, lz4, lzma).
 */
export function compressorCommand(
  compression: Compression | string | boolean | null | undefined,
  level: number | null | undefined = DEFAULT_COMPRESS_LEVEL,
  env?: Record<string, string | undefined>,
): string[] | undefined {
  const c = normalizeCompression(compression);
  const lvl = level ?? DEFAULT_COMPRESS_LEVEL;
  if (!Number.isInteger(lvl)) throw new FormatError(`CompressLevel=${lvl} is not an integer`);
  switch (c) {
    case "none":
      return undefined;
    case "zstd":
      return ["zstd", "-q", `-${lvl}`, "-T0", "--stdout", "-"];
    case "xz":
      return ["xz", "--check=crc32", `-${lvl}`, "-T0", "--stdout", "-"];
    case "gz":
      return [gzipBinary(env), "--no-name", `-${lvl}`, "--stdout", "-"];
    default:
      throw new FormatError(`Unknown compression ${c}`);
  }
}

/** The matching decompressor (stdin→stdout), for tests and for reading archives back. */
export function decompressorCommand(compression: Compression | string): string[] | undefined {
  const c = normalizeCompression(compression);
  switch (c) {
    case "none":
      return undefined;
    case "zstd":
      return ["zstd", "-q", "-d", "--stdout", "-"];
    case "xz":
      return ["xz", "-d", "--stdout", "-"];
    case "gz":
      return ["gzip", "-d", "--stdout", "-"];
    default:
      throw new FormatError(`Unknown compression ${c}`);
  }
}

export interface CompressOptions extends RunOptions {
  level?: number | null;
  /** Remove `src` after a successful compression (default true, like upstream). */
  removeSource?: boolean;
}

/**
 * Compresses the file `src` into `dst` (atomically). With compression "none" the file is only
 * renamed (when `dst` differs). Used for formats whose producer cannot stream (disk images).
 */
export async function compressFile(
  src: string,
  dst: string,
  compression: Compression | string | boolean | null | undefined,
  opts: CompressOptions = {},
): Promise<void> {
  const cmd = compressorCommand(compression, opts.level, opts.env);
  if (!cmd) {
    if (src !== dst) await rename(src, dst);
    return;
  }
  await runPipelineToFile([cmd], dst, { stdinFile: src, signal: opts.signal, env: opts.env });
  if (opts.removeSource !== false && src !== dst) await rm(src, { force: true });
}

/** The stages to append after a producer command: [] for no compression, [compressor] otherwise. */
export function compressionStages(
  compression: Compression | string | boolean | null | undefined,
  level?: number | null,
  env?: Record<string, string | undefined>,
): string[][] {
  const cmd = compressorCommand(compression, level, env);
  return cmd ? [cmd] : [];
}
