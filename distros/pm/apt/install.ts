// Installing, reinstalling, upgrading and removing packages in an image with apt-get (maintainer
// scripts run chrooted by dpkg, services forbidden), and the image's own repository configuration.

import { existsSync } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runSandboxed } from "../../../sandbox/run.js";
import type { AptDistribution, DistroConfig, InstallOptions, PackageManagerContext } from "../../types.js";
import { renderDeb822 } from "./config.js";
import { ensureDpkgDb, fixupAfterInstall, withPolicyRcD } from "./image.js";
import { prefetch } from "./prefetch.js";
import { sandboxFor, seedAptCache, withLocalLists } from "./sandbox.js";
import { writeConfig } from "./session.js";

export async function aptInstall(
  ctx: PackageManagerContext,
  d: AptDistribution,
  root: string,
  packages: string[],
  options: InstallOptions = {},
  operation: "install" | "reinstall" | "upgrade" = "install",
  /** Holds the shared package cache while apt downloads into it: given, the packages are downloaded
   * first (apt-get --download-only) under it, and installed without it. */
  whileDownloading?: <T>(download: () => Promise<T>) => Promise<T>,
): Promise<void> {
  if (packages.length === 0 && operation !== "upgrade") return;
  const network = options.network ?? true;
  const s = await writeConfig(ctx, d, ctx.localRepository !== undefined);
  await seedAptCache(ctx, s);
  await withLocalLists(ctx, s);
  await ensureDpkgDb(root);
  // "--" ends apt-get's options: a package name that starts with "-" is never read as one.
  const args =
    operation === "reinstall"
      ? ["install", "--reinstall", "--", ...packages]
      : [operation, "--", ...packages];
  if (whileDownloading) {
    const [verb, ...rest] = args;
    await whileDownloading(async () => {
      const missing = network
        ? await prefetch({
            args,
            nativeArch: s.arch,
            archives: s.archives,
            sandbox: (extra) => sandboxFor(ctx, s, root, network, extra),
          })
        : 1;
      // apt's own run fetches what the parallel downloads did not (and checks every file's hash).
      if (missing > 0)
        await runSandboxed(
          ["apt-get", "-q", verb!, "--download-only", ...rest],
          sandboxFor(ctx, s, root, network),
        );
    });
  }
  // With the packages in the cache, this run resolves the same set and downloads nothing.
  await withPolicyRcD(root, () =>
    runSandboxed(["apt-get", "-q", ...args], sandboxFor(ctx, s, root, network)),
  );
  await fixupAfterInstall(root);
}

export async function aptRemove(
  ctx: PackageManagerContext,
  d: AptDistribution,
  root: string,
  packages: string[],
): Promise<void> {
  if (packages.length === 0) return;
  const s = await writeConfig(ctx, d, false);
  await seedAptCache(ctx, s);
  await withPolicyRcD(root, () =>
    runSandboxed(
      ["apt-get", "-q", "--allow-remove-essential", "purge", "--", ...packages],
      sandboxFor(ctx, s, root, false),
    ),
  );
  await fixupAfterInstall(root);
}

/** Write the image's own repository configuration (repositories marked inImage) if apt is in the
 * image and it has none yet. */
export async function aptConfigureImageRepositories(
  root: string,
  config: DistroConfig,
  d: AptDistribution,
): Promise<void> {
  if (!existsSync(join(root, "usr/bin/apt-get"))) return;
  const dir = join(root, "etc/apt/sources.list.d");
  const file = join(dir, `${config.Release}.sources`);
  const existing = await readdir(dir).catch(() => [] as string[]);
  if (existing.length > 0) return;
  const repos = d.repositories({ ...config, LocalMirror: null }).filter((r) => r.inImage);
  if (repos.length === 0) return;
  await mkdir(dir, { recursive: true });
  await writeFile(file, renderDeb822(repos));
}
