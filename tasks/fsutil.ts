// Small file-system helpers shared by the steps.
import { lstat } from "node:fs/promises";

/** Does anything (file, directory, symlink, even a dangling one) exist at `path`? */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
