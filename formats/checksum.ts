// Checksum=: `<Output>.SHA256SUMS` over every file in the staging directory at the time it is called
// (upstream calls it after the main output, split artifacts and `.nspawn` exist, and before the
// manifest and the `<Output>` symlink are written). Lines are `sha256sum --binary` style:
// `<hex digest> *<name>`, one per file. Directories are skipped (upstream warns); symlinks are followed.
// We list names in byte order (upstream uses directory order) so the file is reproducible.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { siblingTempPath } from "./exec.js";

/** Hex SHA-256 of a file's content, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** One SHA256SUMS line (with the newline). */
export function checksumLine(hexDigest: string, name: string): string {
  return `${hexDigest} *${name}\n`;
}

export interface ChecksumResult {
  /** Names listed in the file, in order. */
  listed: string[];
  /** Directory entries that could not be checksummed (directories). */
  skipped: string[];
}

/**
 * Writes `<staging>/<checksumName>` listing every other file in `staging` (atomically).
 * `exclude` names are left out as well (besides the checksum file itself).
 */
export async function writeChecksums(
  staging: string,
  checksumName: string,
  opts: { exclude?: string[] } = {},
): Promise<ChecksumResult> {
  const skip = new Set([checksumName, ...(opts.exclude ?? [])]);
  const entries = (await readdir(staging))
    .filter((n) => !skip.has(n) && !n.startsWith(`.${checksumName}.`))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const listed: string[] = [];
  const skipped: string[] = [];
  let text = "";
  for (const name of entries) {
    const st = await stat(join(staging, name)).catch(() => undefined);
    if (!st?.isFile()) {
      skipped.push(name);
      continue;
    }
    text += checksumLine(await sha256File(join(staging, name)), name);
    listed.push(name);
  }
  const dest = join(staging, checksumName);
  const tmp = siblingTempPath(dest);
  await writeFile(tmp, text);
  await rename(tmp, dest);
  return { listed, skipped };
}
