// NSpawnSettings= (or mkosi.nspawn): copied next to the output as `<Output>.nspawn`, where
// systemd-nspawn looks for settings of the image it boots. Content is copied verbatim.
import { copyFile, lstat } from "node:fs/promises";
import { join } from "node:path";
import { FormatError } from "./types.js";

/**
 * Copies the NSpawnSettings= file into `staging` as `nspawnName`. Returns the name written, or
 * undefined when no settings file is configured.
 */
export async function copyNspawnSettings(
  settings: string | null | undefined,
  staging: string,
  nspawnName: string,
): Promise<string | undefined> {
  if (!settings) return undefined;
  const st = await lstat(settings).catch(() => undefined);
  if (!st) throw new FormatError(`NSpawnSettings=${settings}: file not found`);
  if (st.isDirectory())
    throw new FormatError(`NSpawnSettings=${settings}: is a directory, expected a .nspawn file`);
  await copyFile(settings, join(staging, nspawnName));
  return nspawnName;
}
