// The last steps of a build: the `<Output>` symlink, and moving the staged outputs into
// OutputDirectory= (upstream's `finalize_staging`).
//
// Symlink rule (upstream): in the staging directory, `<Output>` → `<withCompression>` is created when the
// two names differ and `<Output>` does not exist or is already a symlink (for Format=directory the
// output *is* `<Output>`, so nothing is created).
//
// Moving rules: every staging entry replaces the entry of the same name in the output directory
// (files chmod'ed to OutputMode= first; symlinks and directories moved as they are). Before anything
// moves, every name that already exists in the output directory is checked: it must be an output name
// of this image (naming.ts `isOutputName`: the names upstream derives from `<Output>`, or
// `<Output>.<anything>`), and one the caller may replace (`mayReplace`: one this tool published there);
// another name may be replaced only if `mayReplace` says this tool published it (a file a post-output
// script writes into $OUTPUTDIR, published by the previous build of the same image).
// Anything else (a user's file that a post-output script happened to shadow, say) stops the build with an
// error and nothing is moved: we never overwrite a file we did not make.
// Replacement is done by rename (build next to it, swap, remove the old), so a failure leaves the
// previous output in place.
import { chmod, lstat, mkdir, readdir, rename, symlink } from "node:fs/promises";
import { join } from "node:path";
import { movePath } from "./directory.js";
import { siblingTempPath } from "./exec.js";
import { isOutputName, type OutputNames } from "./naming.js";
import { FormatError, type RunOptions } from "./types.js";

/**
 * Creates `<dir>/<Output>` → `<withCompression>` following the upstream rule. Returns true when the
 * symlink was (re)created.
 */
export async function createOutputSymlink(
  dir: string,
  names: Pick<OutputNames, "output" | "withCompression">,
): Promise<boolean> {
  if (names.output === names.withCompression) return false;
  const link = join(dir, names.output);
  const st = await lstat(link).catch(() => undefined);
  if (st && !st.isSymbolicLink()) return false;
  const tmp = siblingTempPath(link);
  await symlink(names.withCompression, tmp);
  await rename(tmp, link);
  return true;
}

export interface FinalizeOptions extends RunOptions {
  /** OutputMode=: access mode for regular files (e.g. 0o644); null/undefined keeps them as they are. */
  outputMode?: number | null;
  /** Extra names that may be replaced in the output directory (beyond the image's output names). */
  alsoReplace?: (name: string) => boolean;
  /** Whether the existing entry of an output name may be replaced: only what this tool published there
   * (see tasks/published.ts); default: any output name. */
  mayReplace?: (name: string) => Promise<boolean>;
}

/**
 * Moves every entry of `staging` into `outputDir` (created if missing). Returns the names moved.
 * Throws FormatError, before moving anything, if an entry would replace something in `outputDir` that is
 * not an output of this image.
 */
export async function finalizeStaging(
  staging: string,
  outputDir: string,
  names: OutputNames,
  opts: FinalizeOptions = {},
): Promise<string[]> {
  await mkdir(outputDir, { recursive: true });
  const entries = (await readdir(staging)).sort();
  for (const name of entries) {
    const target = join(outputDir, name);
    const existing = await lstat(target).catch(() => undefined);
    if (!existing) continue;
    if (isOutputName(names, name) || opts.alsoReplace?.(name)) {
      if (!opts.mayReplace || (await opts.mayReplace(name))) continue;
      throw new FormatError(
        `Output path ${target} exists already and was not built by mkosi with this cache. (Use --force to replace it.)`,
      );
    }
    // Another name (a post-output script's own file) that a publish of this image put there itself.
    if (opts.mayReplace && (await opts.mayReplace(name))) continue;
    throw new FormatError(
      `Refusing to overwrite ${target}: it exists and is not an output of image '${names.output}' ` +
        `(move it away or rename the staged file)`,
    );
  }
  const mode = opts.outputMode;
  if (mode !== null && mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)) {
    throw new FormatError(`OutputMode=${mode} is not a valid access mode`);
  }
  for (const name of entries) {
    const src = join(staging, name);
    const target = join(outputDir, name);
    const st = await lstat(src);
    if (st.isFile() && mode !== null && mode !== undefined) await chmod(src, mode);
    await movePath(src, target, opts);
  }
  return entries;
}
