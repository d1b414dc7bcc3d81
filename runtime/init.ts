// `mkosi init`: a user tmpfiles.d drop-in that ages out what is left unused in mkosi's cache directory
// for 90 days (old package downloads), except the build graph's cache (an index and the layers it
// refers to: removing files behind the index's back would corrupt it; `mkosi clean -f` and the engine's
// garbage collection remove those).
import { mkdir, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";

export const TMPFILES_DROPIN = `# Written by mkosi init.
d %C/mkosi - - - 90d
x %C/mkosi/graph*
`;

export async function init(): Promise<number> {
  const config = process.env.XDG_CONFIG_HOME || join(process.env.HOME || homedir(), ".config");
  const dir = join(config, "user-tmpfiles.d");
  await mkdir(dir, { recursive: true });
  const path = join(dir, "mkosi.conf");
  await writeFile(path, TMPFILES_DROPIN);
  process.stderr.write(`‣ Wrote ${path}\n`);
  return 0;
}
