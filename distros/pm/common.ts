// What the rpm and pacman package managers share: the sandbox's private /etc (a few host files, the
// sandbox trees, then the generated configuration), key and file lookup for repository definitions,
// the environment package managers and scriptlets see, local mirrors on file:// URLs.
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { copyFile, mkdir, readdir, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { dirname, join, posix } from "node:path";
import { type BindMount, runCommand } from "../../sandbox/run.js";
import type { PackageManagerContext, RepositoryLookup } from "../types.js";

/** Host files the package managers need in /etc (users for scriptlets' chown, name resolution). */
const ETC_COPIES = ["passwd", "group", "hosts", "nsswitch.conf", "host.conf", "gai.conf"];
/** Host (or tools tree) directories bound into /etc: the dynamic linker's cache, alternatives and the
 * CA certificates for https mirrors. */
const ETC_BINDS = [
  "ld.so.cache",
  "ld.so.conf",
  "ld.so.conf.d",
  "alternatives",
  "ssl",
  "ca-certificates",
  "pki",
];

type SandboxTrees = NonNullable<PackageManagerContext["sandboxTrees"]>;

/** Where a package manager keeps its downloads below PackageCacheDirectory=: `cache/<its path>`, the
 * layout mkosi uses (`cache/apt/archives`, `cache/zypp/packages`, …), so one directory serves both. */
export function packageCachePath(
  ctx: Pick<PackageManagerContext, "packageCacheDir">,
  ...parts: string[]
): string {
  return join(ctx.packageCacheDir, "cache", ...parts);
}

/** Where a sandbox path comes from in a sandbox tree (undefined when the tree does not cover it). */
export function inSandboxTree(tree: SandboxTrees[number], sandboxPath: string): string | undefined {
  const target = tree.Target ? `/${tree.Target.replace(/^\/+|\/+$/g, "")}` : "/";
  if (target === "/") return join(tree.Source, sandboxPath);
  if (sandboxPath === target || sandboxPath.startsWith(`${target}/`))
    return join(tree.Source, sandboxPath.slice(target.length));
  if (target.startsWith(`${sandboxPath}/`)) return undefined;
  return undefined;
}

/** Copy what the sandbox trees put below `sandboxDir` into `dest` (later trees win; links are
 * dereferenced: a tree may link to the host's files). */
export async function copyFromSandboxTrees(
  trees: SandboxTrees,
  sandboxDir: string,
  dest: string,
): Promise<void> {
  for (const tree of trees) {
    const target = tree.Target ? `/${tree.Target.replace(/^\/+|\/+$/g, "")}` : "/";
    // A tree mounted below sandboxDir (Target=/etc/dnf with sandboxDir /etc).
    if (target !== "/" && target.startsWith(`${sandboxDir}/`)) {
      const into = join(dest, target.slice(sandboxDir.length));
      await mkdir(into, { recursive: true });
      await runCommand(["cp", "-a", "-L", "--no-target-directory", `${tree.Source}/.`, into]);
      continue;
    }
    const src = inSandboxTree(tree, sandboxDir);
    if (!src || !existsSync(src)) continue;
    await mkdir(dest, { recursive: true });
    await runCommand(["cp", "-a", "-L", "--no-target-directory", `${src}/.`, dest]);
  }
}

export interface SandboxEtc {
  /** The directory the sandbox sees as /etc. */
  etc: string;
  /** Binds of host pieces into it (the tools tree's pieces are bound by the sandbox itself). */
  binds: BindMount[];
}

/**
 * A private /etc for the package manager's sandbox: copies of a few host files, mount points for the
 * linker cache, alternatives and certificates (bound from the tools tree or the host), the sandbox trees'
 * /etc, and whatever the package manager writes into it afterwards. The host's own package manager
 * configuration (Debian's /etc/dnf, /etc/pacman.conf, /etc/zypp, ...) is never seen.
 */
export async function sandboxEtc(ctx: PackageManagerContext): Promise<SandboxEtc> {
  const etc = join(ctx.workDir, "etc");
  await mkdir(etc, { recursive: true });
  for (const name of ETC_COPIES) {
    const src = join("/etc", name);
    if (existsSync(src) && statSync(src).isFile()) await copyFile(src, join(etc, name));
  }
  const binds: BindMount[] = [];
  for (const name of ETC_BINDS) {
    const tools = ctx.tools ? join(ctx.tools.root, "etc", name) : undefined;
    const host = join("/etc", name);
    const toolsHas = tools !== undefined && existsSync(tools);
    const source = toolsHas ? tools : existsSync(host) ? host : undefined;
    if (!source) continue;
    const mountPoint = join(etc, name);
    if (statSync(source).isDirectory()) await mkdir(mountPoint, { recursive: true });
    else await writeFile(mountPoint, "");
    // The sandbox binds the tools tree's linker cache, alternatives and (with ToolsTreeCertificates=)
    // certificates itself, where /etc has the mount point; the rest comes from the host.
    const fromTools =
      toolsHas &&
      (["ld.so.cache", "alternatives"].includes(name) ||
        (ctx.tools!.certificates && ["ssl", "ca-certificates"].includes(name)));
    if (!fromTools) binds.push({ src: source, dst: `/etc/${name}`, readOnly: true });
  }
  // The mount point of the host's resolver configuration (bound when the network is on).
  await writeFile(join(etc, "resolv.conf"), "");
  await copyFromSandboxTrees(ctx.sandboxTrees ?? [], "/etc", etc);
  return { etc, binds };
}

/** Write `content` at `path` unless a sandbox tree already put a file there. */
export async function writeUnlessPresent(path: string, content: string): Promise<void> {
  if (existsSync(path)) return;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}

/** Sorted entries of a directory, [] when it does not exist. */
function entries(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/**
 * Repository lookups as the package manager's sandbox sees them: /usr from the tools tree (or the host),
 * /etc from the private /etc (host copies plus sandbox trees), and the sandbox trees' /usr on top. Key
 * files found only in a sandbox tree's /usr are bound into the sandbox at the path returned.
 */
export class SandboxLookup implements RepositoryLookup {
  readonly binds: BindMount[] = [];
  constructor(
    private readonly ctx: PackageManagerContext,
    private readonly etc: string,
  ) {}

  /** Host directories that provide sandbox directory `dir`, highest precedence first. */
  private sources(dir: string): string[] {
    const out: string[] = [];
    for (const tree of [...(this.ctx.sandboxTrees ?? [])].reverse()) {
      const src = inSandboxTree(tree, dir);
      if (src && existsSync(src)) out.push(src);
    }
    if (dir === "/etc" || dir.startsWith("/etc/")) out.push(join(this.etc, dir.slice("/etc".length)));
    else out.push(join(this.ctx.tools?.root ?? "/", dir));
    if (dir.startsWith("/etc/") && !out.some((d) => existsSync(d))) out.push(dir);
    return out;
  }

  private names(dir: string): Map<string, string> {
    const found = new Map<string, string>();
    for (const src of this.sources(dir)) {
      for (const name of entries(src)) if (!found.has(name)) found.set(name, join(src, name));
    }
    return found;
  }

  key(name: string): string | undefined {
    // distribution-gpg-keys first (its subdirectories in name order), then /etc/pki/rpm-gpg.
    const root = "/usr/share/distribution-gpg-keys";
    const candidates: [string, string][] = [];
    for (const [sub, path] of [...this.names(root)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (!isDirectory(path)) continue;
      for (const file of entries(path))
        if (file.startsWith(name)) candidates.push([`${root}/${sub}/${file}`, join(path, file)]);
      if (candidates.length > 0) break;
    }
    if (candidates.length === 0)
      for (const [file, path] of [...this.names("/etc/pki/rpm-gpg")].sort(([a], [b]) => (a < b ? -1 : 1)))
        if (file.startsWith(name)) candidates.push([`/etc/pki/rpm-gpg/${file}`, path]);
    const first = candidates[0];
    if (!first) return undefined;
    return `file://${this.expose(first[0], first[1])}`;
  }

  file(dir: string, match: (name: string) => boolean): string | undefined {
    for (const [name, path] of [...this.names(dir)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (match(name)) return this.expose(posix.join(dir, name), path);
    }
    return undefined;
  }

  /** The sandbox path at which a found file is visible. The private /etc and the tools tree's (or host's)
   * /usr have theirs; a file from a sandbox tree's /usr is bound at its path over the file there, else (a read-only /usr cannot get new mount points) it is copied to the same name below
   * /etc/pki/rpm-gpg. */
  private expose(sandboxPath: string, hostPath: string): string {
    if (sandboxPath.startsWith("/etc/")) return sandboxPath;
    const usr = join(this.ctx.tools?.root ?? "/", sandboxPath);
    if (usr === hostPath) return sandboxPath;
    if (existsSync(usr)) {
      this.binds.push({ src: hostPath, dst: sandboxPath, readOnly: true });
      return sandboxPath;
    }
    const fallback = `/etc/pki/rpm-gpg/${posix.basename(sandboxPath)}`;
    mkdirSync(join(this.etc, "pki/rpm-gpg"), { recursive: true });
    copyFileSync(hostPath, join(this.etc, fallback.slice("/etc/".length)));
    return fallback;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The environment of package manager runs (and the scriptlets they start in the image). */
export function packageManagerEnv(ctx: PackageManagerContext, network: boolean): Record<string, string> {
  const env: Record<string, string> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    // rpm must not read ~/.rpmmacros.
    HOME: "/",
    LC_ALL: "C.UTF-8",
    SYSTEMD_IN_CHROOT: "1",
    SYSTEMD_HWDB_UPDATE_BYPASS: "1",
    // Bootable images get their kernels and initrds from mkosi itself, so package hooks must not build
    // them; otherwise kernel-install may run, into /boot.
    ...(ctx.config.Bootable !== "disabled"
      ? { KERNEL_INSTALL_BYPASS: "1" }
      : { BOOT_ROOT: "/boot", BOOT_MNT: "/boot", hostonly_l: "no" }),
    ...(ctx.env ?? {}),
  };
  if (!network) env.SYSTEMD_OFFLINE = "1";
  if (ctx.config.ProxyUrl) {
    for (const k of ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"]) env[k] = ctx.config.ProxyUrl;
  }
  return env;
}

/** Local directories the repositories point at with file:// URLs (Mirror=, LocalMirror=): bound
 * read-only into the sandbox at the same path. */
export function fileMirrorBinds(ctx: PackageManagerContext): BindMount[] {
  const out: BindMount[] = [];
  for (const url of [ctx.config.Mirror, ctx.config.LocalMirror]) {
    if (!url?.startsWith("file://")) continue;
    const path = decodeURIComponent(url.slice("file://".length)).replace(/\/+$/, "") || "/";
    // The URL may contain $releasever and the like below a real directory: bind the longest real prefix.
    let dir = path;
    while (dir !== "/" && !existsSync(dir)) dir = dirname(dir);
    if (dir !== "/" && !out.some((b) => b.src === dir)) out.push({ src: dir, dst: dir, readOnly: true });
  }
  return out;
}

/** Files of `dirs` whose names pass `match`, hard-linked (or copied) into `repoDir`. */
export async function collectPackages(
  dirs: string[],
  repoDir: string,
  match: (name: string) => boolean,
): Promise<string[]> {
  const names: string[] = [];
  for (const dir of dirs) {
    for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
      if (!match(name)) continue;
      const src = join(dir, name);
      if (!lstatSync(src).isFile()) continue;
      await mkdir(repoDir, { recursive: true });
      const dest = join(repoDir, name);
      if (existsSync(dest)) continue;
      await runCommand(["cp", "--link", "--force", src, dest]).catch(() => copyFile(src, dest));
      names.push(name);
    }
  }
  return names.sort();
}

export async function parallel<T>(
  items: readonly T[],
  fn: (item: T) => Promise<void>,
  limit = availableParallelism(),
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
