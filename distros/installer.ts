// A distribution bound to its package manager's implementation, loaded when a step runs. Apart from
// index.ts (data) so that only the steps that run a package manager depend on the package managers' code.
import { distribution } from "./index.js";
import { DistributionError, type Installer, type PackageManager, type PackageManagerName } from "./types.js";

async function loadPackageManager(name: PackageManagerName): Promise<PackageManager> {
  switch (name) {
    case "apt":
      return (await import("./pm/apt.js")).apt as PackageManager;
    case "dnf":
      return (await import("./pm/dnf.js")).dnf as PackageManager;
    case "zypper":
      return (await import("./pm/zypper.js")).zypper as PackageManager;
    case "pacman":
      return (await import("./pm/pacman.js")).pacman as PackageManager;
    default:
      throw new DistributionError(`The ${name} package manager is not supported yet`);
  }
}

/** The distribution bound to its package manager's implementation. */
export async function loadInstaller(name: string): Promise<Installer> {
  const d = distribution(name);
  const pm = await loadPackageManager(d.packageManager);
  return {
    distribution: d,
    packageManager: pm,
    syncMetadata: (ctx) => pm.syncMetadata(ctx, d),
    bootstrap: (ctx, root, options) => pm.bootstrap(ctx, d, root, options),
    install: (ctx, root, packages, options) => pm.install(ctx, d, root, packages, options),
    remove: (ctx, root, packages) => pm.remove(ctx, d, root, packages),
    listInstalled: (root) => pm.listInstalled(root, d),
    cleanMetadata: (root, mode) => pm.cleanMetadata(root, mode, d),
    createLocalRepository: (dirs, repoDir, signal) => pm.createLocalRepository(dirs, repoDir, signal),
    scriptSupport: (ctx) => pm.scriptSupport(ctx, d),
  };
}
