// Local repository (PackageDirectories=, $PACKAGEDIR): a flat repository with a Release file whose
// Origin the preferences pin at a high priority, so local packages win over archive versions.

import { createHash } from "node:crypto";
import { copyFile, link, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { runCommand } from "../../../sandbox/run.js";
import type { LocalRepository } from "../../types.js";
import { parallel } from "../common.js";
import { LOCAL_REPO_ORIGIN } from "./config.js";

async function fileDigests(path: string): Promise<{ size: number; md5: string; sha256: string }> {
  const data = await readFile(path);
  return {
    size: data.length,
    md5: createHash("md5").update(data).digest("hex"),
    sha256: createHash("sha256").update(data).digest("hex"),
  };
}

export async function aptCreateLocalRepository(
  dirs: string[],
  repoDir: string,
  signal?: AbortSignal,
): Promise<LocalRepository | undefined> {
  const files: string[] = [];
  for (const d of dirs) {
    const entries = await readdir(d).catch(() => [] as string[]);
    for (const e of entries.sort()) if (e.endsWith(".deb") || e.endsWith(".ddeb")) files.push(join(d, e));
  }
  if (files.length === 0) return undefined;
  await mkdir(repoDir, { recursive: true });
  const names: string[] = [];
  const stanzas: string[] = new Array(files.length);
  await parallel(
    files.map((f, i) => [f, i] as const),
    async ([f, i]) => {
      const name = basename(f);
      const dest = join(repoDir, name);
      await rm(dest, { force: true });
      await link(f, dest).catch(() => copyFile(f, dest));
      const r = await runCommand(["dpkg-deb", "--field", dest], { captureStdout: true, signal });
      const d = await fileDigests(dest);
      const control = r.stdout.replace(/\n+$/, "");
      stanzas[i] =
        `${control}\nFilename: ./${name}\nSize: ${d.size}\nMD5sum: ${d.md5}\nSHA256: ${d.sha256}\n`;
      names.push(name);
    },
  );
  const packages = stanzas.join("\n");
  await writeFile(join(repoDir, "Packages"), packages);
  const pd = await fileDigests(join(repoDir, "Packages"));
  await writeFile(
    join(repoDir, "Release"),
    [
      `Origin: ${LOCAL_REPO_ORIGIN}`,
      `Label: ${LOCAL_REPO_ORIGIN}`,
      "Suite: mkosi",
      "Codename: mkosi",
      "Date: Thu, 01 Jan 1970 00:00:00 UTC",
      "MD5Sum:",
      ` ${pd.md5} ${pd.size} Packages`,
      "SHA256:",
      ` ${pd.sha256} ${pd.size} Packages`,
      "",
    ].join("\n"),
  );
  return { dir: repoDir, packages: names.sort() };
}
