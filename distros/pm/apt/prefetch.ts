// Parallel downloads for apt. apt fetches from one mirror over a single connection, one file after the
// other; a cold tools tree (~500 packages, ~480 MB) spends a minute there. Before apt's own download run,
// the packages it would fetch (apt-get --print-uris) are split into a few groups by size and fetched by
// concurrent `apt-get download` runs: apt itself, with the same configuration (mirrors, proxies,
// authentication, sandbox trees) and the same hash checks against the repository's index. The finished
// files are moved into the package cache, where apt's download run finds them (it checks their hashes
// again and fetches whatever is missing). The caller holds the package cache lock.
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { runSandboxed, type SandboxOptions } from "../../../sandbox/run.js";

/** One file apt would download. */
export interface PendingDownload {
  uri: string;
  file: string;
  size: number;
}

/** Below this much to fetch, apt's own sequential download is as fast as starting more processes. */
const PARALLEL_MIN_BYTES = 16 * 1024 * 1024;
const WORKERS = 4;

/** The downloads in `apt-get --print-uris` output: `'<uri>' <file> <size> [<hash>]` lines. */
export function parsePrintUris(stdout: string): PendingDownload[] {
  const pending: PendingDownload[] = [];
  for (const line of stdout.split("\n")) {
    // The hash is missing from some apt versions' output.
    const m = /^'([^']+)' (\S+\.deb) (\d+)(?: \S+)?$/.exec(line.trim());
    if (m) pending.push({ uri: m[1]!, file: m[2]!, size: Number(m[3]) });
  }
  return pending;
}

/** `name=version` (with `:arch` for a foreign architecture) from an archive file name
 * (`name_version_arch.deb`, the version's epoch colon escaped as %3a). */
export function downloadSpec(file: string, nativeArch: string): string | undefined {
  const m = /^([^_]+)_([^_]+)_([^_]+)\.deb$/.exec(file);
  if (!m) return undefined;
  const [, name, version, arch] = m;
  const qualified = arch === "all" || arch === nativeArch ? name! : `${name}:${arch}`;
  return `${qualified}=${decodeURIComponent(version!)}`;
}

/** Split `items` into at most `n` groups of similar total size (largest first, each to the lightest). */
export function balance(items: readonly PendingDownload[], n: number): PendingDownload[][] {
  const groups = Array.from({ length: n }, () => ({ bytes: 0, items: [] as PendingDownload[] }));
  for (const item of [...items].sort((a, b) => b.size - a.size)) {
    const lightest = groups.reduce((a, b) => (b.bytes < a.bytes ? b : a));
    lightest.bytes += item.size;
    lightest.items.push(item);
  }
  return groups.map((g) => g.items).filter((g) => g.length > 0);
}

/**
 * Fetch what `args` (apt-get's verb and packages) would download, several files at a time, into
 * `archives` (the package cache as the host sees it). `sandbox` runs apt with the package cache at
 * /var/cache/apt/archives. Downloads in flight live in its partial/ directory (same file system). Returns the
 * number of files apt would fetch (0: nothing to download, the caller's download run can be skipped).
 */
export async function prefetch(opts: {
  args: readonly string[];
  nativeArch: string;
  archives: string;
  sandbox: (extra: { src: string; dst: string }[]) => SandboxOptions;
}): Promise<number> {
  const { stdout } = await runSandboxed(["apt-get", "-q", "--print-uris", ...opts.args], {
    ...opts.sandbox([]),
    captureStdout: true,
  });
  const all = parsePrintUris(stdout);
  const pending = all.filter((d) => /^https?:/.test(d.uri));
  const total = pending.reduce((sum, d) => sum + d.size, 0);
  if (pending.length < 2 || total < PARALLEL_MIN_BYTES) return all.length;
  const groups = balance(pending, WORKERS);
  await Promise.all(
    groups.map(async (group, i) => {
      const specs = group.map((d) => downloadSpec(d.file, opts.nativeArch)).filter((s): s is string => !!s);
      if (specs.length === 0) return;
      const dir = join(opts.archives, "partial", `mkosi-download-${i}`);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      const sandbox = opts.sandbox([{ src: dir, dst: "/work/download" }]);
      // A failure here is not fatal: apt's own download run fetches what is missing and reports errors.
      await runSandboxed(["apt-get", "-q", "download", "--", ...specs], {
        ...sandbox,
        cwd: "/work/download",
        check: false,
      });
      for (const name of await readdir(dir))
        if (name.endsWith(".deb")) await rename(join(dir, name), join(opts.archives, name));
      await rm(dir, { recursive: true, force: true });
    }),
  );
  return all.length;
}
