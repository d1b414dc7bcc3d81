// Checks before any work: can this machine build the image's distribution at all? The architecture and
// release must be ones the distribution has, and the programs its package manager runs must exist where
// they will run (the tools tree, or the host), else the error names the Debian package that has them.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { programInTree as findProgram } from "../sandbox/programs.js";
import { distribution, distributionArchitecture } from "./index.js";
import { PACKAGE_MANAGER_TOOLS } from "./pm/tools.js";
import { DistributionError, type DistroConfig } from "./types.js";

export interface PreflightImage {
  /** Image name, for the message. */
  name: string;
  config: DistroConfig;
  /** ToolsTree= as a directory; "default" (built by mkosi, not checkable yet) or null (the host). */
  toolsTree: string | null;
  /** Sandbox trees: an rpm macros file there may choose the database backend (see below). */
  sandboxTrees: { Source: string; Target: string | null }[];
}

/** rpm here can write the ndb database openSUSE uses (Debian's rpm cannot). */
function rpmHasNdb(): boolean {
  const dir = mkdtempSync(join(tmpdir(), "mkosi-ndb-"));
  try {
    const r = spawnSync("rpm", ["--define", "_db_backend ndb", "--dbpath", dir, "--initdb"], {
      encoding: "utf8",
      env: { ...process.env, HOME: "/" },
    });
    return r.status === 0 && !/invalid %_db_backend|dummy database/.test(r.stderr ?? "");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function sandboxTreeHas(image: PreflightImage, path: string): boolean {
  return image.sandboxTrees.some((tree) => {
    const target = tree.Target ? `/${tree.Target.replace(/^\/+|\/+$/g, "")}` : "";
    return path.startsWith(`${target}/`) && existsSync(join(tree.Source, path.slice(target.length)));
  });
}

/** Throws a DistributionError for the first image this machine cannot build. */
export function preflight(images: PreflightImage[]): void {
  for (const image of images) {
    const d = distribution(image.config.Distribution);
    if (d.packageManager === "none") continue;
    const where = `${image.name}: Distribution=${d.name}`;
    try {
      distributionArchitecture(d, image.config.Architecture);
      if ("checkRelease" in d) d.checkRelease?.(image.config);
    } catch (e) {
      throw new DistributionError(`${where}: ${(e as Error).message}`);
    }
    if (image.toolsTree === "default") continue;
    const tools = PACKAGE_MANAGER_TOOLS[d.packageManager];
    const root = image.toolsTree ?? "/";
    const inTree = image.toolsTree !== null;
    for (const program of [...new Set([...tools.sync, ...tools.install])]) {
      if (findProgram(root, program)) continue;
      const pkg = tools.debianPackages[program] ?? program;
      throw new DistributionError(
        inTree
          ? `${where} needs ${program}, which the tools tree ${root} does not have (Debian package ${pkg})`
          : `${where} needs ${program}, which is not installed: apt-get install ${pkg} (or use a tools tree, ToolsTree=)`,
      );
    }
    // Programs run on the host whatever the tools tree.
    for (const program of [...tools.query, ...tools.index]) {
      if (findProgram("/", program)) continue;
      const pkg = tools.debianPackages[program] ?? program;
      throw new DistributionError(
        `${where} needs ${program} on the host, which is not installed: apt-get install ${pkg}`,
      );
    }
    if (
      d.packageManager === "zypper" &&
      "rpmDbBackend" in d &&
      d.rpmDbBackend === "ndb" &&
      !inTree &&
      !sandboxTreeHas(image, "/etc/rpm/macros.db_backend") &&
      !rpmHasNdb()
    )
      throw new DistributionError(
        `${where}: this host's rpm cannot write the ndb database openSUSE uses; use a tools tree (ToolsTree=) ` +
          'or choose another backend with a sandbox tree file etc/rpm/macros.db_backend ("%_db_backend sqlite")',
      );
  }
}
