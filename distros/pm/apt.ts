// apt/dpkg driver shared by Debian, Ubuntu and Kali. No debootstrap: the approach is mmdebstrap's.
//
//  * Configuration is generated into a private tree (ctx.workDir/etc/apt) and bound over /etc/apt in a
//    bubblewrap sandbox that uses the host's apt and dpkg; APT_CONFIG points at our apt.conf so nothing
//    of the host's apt configuration is read. Inside the sandbox the paths are fixed:
//      /etc/apt                 generated configuration (sources in deb822 form, preferences, apt.conf)
//      /var/lib/apt/lists       repository metadata (ctx.metadataDir/lists)
//      /var/cache/apt           apt's binary caches (private copy per operation)
//      /var/cache/apt/archives  the shared download cache (ctx.packageCacheDir)
//      /repository              the local repository (PackageDirectories=), if any
//      /buildroot               the image; apt's Dir::State and dpkg's --root point into it
//  * syncMetadata: `apt-get update` into ctx.metadataDir (lists + srcpkgcache.bin), reusable offline.
//  * bootstrap: one apt-get run resolves and downloads the essential set (all .debs at once, in
//    parallel, into the shared cache) and hands us the list of .deb files through a
//    DPkg::Pre-Install-Pkgs hook while Debug::pkgDpkgPm keeps it from running dpkg; the .debs are then
//    extracted with dpkg-deb|tar in parallel (so maintainer scripts find a shell and libc), and a single
//    `dpkg --install` registers and configures them all (--force-unsafe-io, no dpkg log).
//  * install/remove: apt-get with DPkg::Options --root=/buildroot (maintainer scripts run chrooted into
//    the image by dpkg), API filesystems mounted inside the image, and policy-rc.d forbidding services.
//
// This module is the package manager's entry point; its parts live in pm/apt/: config.ts (rendering),
// session.ts (the configuration tree), sandbox.ts (running apt/dpkg), metadata.ts, bootstrap.ts,
// install.ts, image.ts (the image's apt/dpkg state), local-repository.ts, scripts.ts.

import { withPackageCacheLock } from "../cachelock.js";
import type { AptDistribution, PackageManager } from "../types.js";
import { aptBootstrap } from "./apt/bootstrap.js";
import { aptCleanMetadata, dpkgListInstalled } from "./apt/image.js";
import { aptConfigureImageRepositories, aptInstall, aptRemove } from "./apt/install.js";
import { aptCreateLocalRepository } from "./apt/local-repository.js";
import { aptSyncMetadata } from "./apt/metadata.js";
import { aptScriptSupport } from "./apt/scripts.js";
import { PACKAGE_MANAGER_TOOLS } from "./tools.js";

export { aptBootstrap } from "./apt/bootstrap.js";
export {
  type AptConfOptions,
  checkKeyrings,
  DOC_PATH_EXCLUDES,
  DOC_PATH_INCLUDES,
  debianArchitecture,
  dpkgOptions,
  LOCAL_REPO_ORIGIN,
  LOCAL_REPO_PRIORITY,
  localRepository,
  renderAptConf,
  renderDeb822,
} from "./apt/config.js";
export { aptCleanMetadata, dpkgListInstalled } from "./apt/image.js";
export { aptConfigureImageRepositories, aptInstall, aptRemove } from "./apt/install.js";
export { aptCreateLocalRepository } from "./apt/local-repository.js";
export { aptSyncMetadata } from "./apt/metadata.js";
export { aptScriptSupport } from "./apt/scripts.js";

export const apt: PackageManager<AptDistribution> = {
  name: "apt",
  packageType: "deb",
  tools: PACKAGE_MANAGER_TOOLS.apt,
  syncMetadata: (ctx, d) => aptSyncMetadata(ctx, d),
  // The shared package cache is held while apt downloads into it, not while dpkg unpacks and configures:
  // images that share the cache install in parallel once their packages are there.
  bootstrap: (ctx, d, root, options) =>
    aptBootstrap(ctx, d, root, options, (download) =>
      withPackageCacheLock(ctx.packageCacheDir, ctx.signal, download),
    ),
  async install(ctx, d, root, packages, options) {
    await aptInstall(ctx, d, root, packages, options, "install", (download) =>
      withPackageCacheLock(ctx.packageCacheDir, ctx.signal, download),
    );
    await aptConfigureImageRepositories(root, ctx.config, d);
  },
  remove: (ctx, d, root, packages) =>
    withPackageCacheLock(ctx.packageCacheDir, ctx.signal, () => aptRemove(ctx, d, root, packages)),
  listInstalled: (root) => dpkgListInstalled(root),
  cleanMetadata: (root, mode) => aptCleanMetadata(root, mode),
  createLocalRepository: aptCreateLocalRepository,
  scriptSupport: (ctx, d) => aptScriptSupport(ctx, d),
};
