// The configuration tree of one apt operation (ctx.workDir/etc/apt and friends), bound over /etc/apt
// in the sandbox: the sandbox trees' apt configuration or the distribution's repositories, the local
// repository's source and pin, and the apt.conf.

import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCommand } from "../../../sandbox/run.js";
import type { AptDistribution, PackageManagerContext } from "../../types.js";
import { packageCachePath } from "../common.js";
import {
  checkKeyrings,
  debianArchitecture,
  LOCAL_REPO_ORIGIN,
  LOCAL_REPO_PRIORITY,
  localRepository,
  renderAptConf,
  renderDeb822,
} from "./config.js";

/** The host directories one operation binds into the sandbox (see sandbox.ts), and its architecture. */
export interface Session {
  etcApt: string;
  dpkgCfg: string;
  aptCache: string;
  /** apt's downloads in the shared package cache (mkosi's layout: `cache/apt/archives`). */
  archives: string;
  lists: string;
  listsWritable: boolean;
  log: string;
  arch: string;
}

export async function writeConfig(
  ctx: PackageManagerContext,
  d: AptDistribution,
  withLocal: boolean,
): Promise<Session> {
  const c = ctx.config;
  const arch = debianArchitecture(d, c.Architecture);
  const etcApt = join(ctx.workDir, "etc", "apt");
  const dpkgCfg = join(ctx.workDir, "etc", "dpkg.cfg.d");
  const log = join(ctx.workDir, "log");
  for (const d of ["apt.conf.d", "sources.list.d", "preferences.d", "trusted.gpg.d", "auth.conf.d"]) {
    await mkdir(join(etcApt, d), { recursive: true });
  }
  await mkdir(dpkgCfg, { recursive: true });
  await mkdir(log, { recursive: true });
  // SandboxTrees= may carry apt configuration; their repositories replace the generated ones.
  let userSources = false;
  await writeFile(join(etcApt, "sources.list"), "");
  for (const tree of ctx.sandboxTrees ?? []) {
    // The tree's Source appears at Target (default /) in the sandbox; find what lands below /etc/apt.
    const at = (sandboxPath: string): string | undefined => {
      const target = tree.Target ? `/${tree.Target.replace(/^\/+|\/+$/g, "")}` : "/";
      if (target === "/") return join(tree.Source, sandboxPath);
      if (sandboxPath === target || sandboxPath.startsWith(`${target}/`)) {
        return join(tree.Source, sandboxPath.slice(target.length));
      }
      return undefined;
    };
    for (const d of ["apt.conf.d", "sources.list.d", "preferences.d", "trusted.gpg.d", "auth.conf.d"]) {
      const src = at(`/etc/apt/${d}`);
      if (!src || !existsSync(src)) continue;
      // Dereferenced: a sandbox tree may link to the host's own apt sources (-L after -a wins).
      await runCommand(["cp", "-a", "-L", "--no-target-directory", `${src}/.`, join(etcApt, d)]);
      if (d === "sources.list.d") {
        const names = await readdir(src);
        if (names.some((n) => n.endsWith(".sources") || n.endsWith(".list"))) userSources = true;
      }
    }
    const listPath = at("/etc/apt/sources.list");
    const list = listPath ? await readFile(listPath, "utf8").catch(() => "") : "";
    if (/^\s*deb\s/m.test(list)) {
      await writeFile(join(etcApt, "sources.list"), list);
      userSources = true;
    }
  }
  if (!userSources) {
    const repos = d.repositories(c);
    if (c.RepositoryKeyCheck) checkKeyrings(repos, d.keyringPackage, ctx.tools?.root);
    await writeFile(join(etcApt, "sources.list.d", "mkosi.sources"), renderDeb822(repos));
  }
  if (withLocal) {
    await writeFile(join(etcApt, "sources.list.d", "mkosi-local.sources"), renderDeb822([localRepository()]));
    await writeFile(
      join(etcApt, "preferences.d", "mkosi-local.pref"),
      `Package: *\nPin: release o=${LOCAL_REPO_ORIGIN}\nPin-Priority: ${LOCAL_REPO_PRIORITY}\n`,
    );
  }
  await writeFile(
    join(etcApt, "apt.conf"),
    renderAptConf({
      arch,
      withDocs: c.WithDocs,
      withRecommends: c.WithRecommends,
      keyCheck: c.RepositoryKeyCheck,
      proxy: c.ProxyUrl,
    }),
  );
  const aptCache = join(ctx.workDir, "apt-cache");
  await mkdir(aptCache, { recursive: true });
  const archives = packageCachePath(ctx, "apt", "archives");
  await mkdir(join(archives, "partial"), { recursive: true });
  return {
    etcApt,
    dpkgCfg,
    aptCache,
    archives,
    lists: join(ctx.metadataDir, "lists"),
    listsWritable: false,
    log,
    arch,
  };
}
