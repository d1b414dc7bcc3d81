// mkosi scripts: configure, sync, prepare, build, postinst, finalize, postoutput, clean.
//
// Each script runs in its own tools sandbox (sandbox/run.ts) with exactly the environment variables the
// man page's table gives its kind (plus PATH, PWD, TERM when set, and Environment=/EnvironmentFiles= values,
// which come last and win), the argument its kind takes, /work/src (build sources) as the working
// directory, and the helpers on $PATH (/scripts):
//   mkosi-chroot           run a command inside the image (API filesystems, /work, resolv.conf)
//   mkosi-install/-remove/-upgrade/-reinstall, apt, apt-get, dpkg, ...   act on /buildroot
//   useradd, groupadd, usermod, ... with --root /buildroot;  git with safe.directory=*
//   mkosi-as-caller        drop to $MKOSI_UID/$MKOSI_GID
// Package manager helpers set their own environment (APT_CONFIG, ...) so the script's environment stays
// exactly the documented one. A `.chroot` script is run through mkosi-chroot. `.d` directories run
// their files in lexicographic order. Paths inside the sandbox:
//   /work/src  /work/out  /work/dest  /work/build  /work/packages  /work/artifacts  /work/config.json
//   /work/<kind> or /work/build-script (the script, = $CHROOT_SCRIPT)   /buildroot (the image)   /scripts (helpers)
// With `debugShell` (--debug-shell), a failing script is followed by an interactive shell in its sandbox:
// for a `.chroot` script through mkosi-chroot (inside the image), otherwise next to it (image at /buildroot).
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import type { ScriptPackageManagerSupport } from "../distros/types.js";
import type { OverlayMount } from "./overlay.js";
import { BUILDROOT } from "./paths.js";
import type { BindMount, DebugShell, OutputCallback, TerminalHandoff, ToolsTreeMount } from "./run.js";

export type ScriptKind =
  | "configure"
  | "sync"
  | "prepare"
  | "build"
  | "postinst"
  | "finalize"
  | "postoutput"
  | "clean";

export const SCRIPT_KINDS: readonly ScriptKind[] = [
  "configure",
  "sync",
  "prepare",
  "build",
  "postinst",
  "finalize",
  "postoutput",
  "clean",
];

const ALL = SCRIPT_KINDS;
const IMAGE_KINDS: readonly ScriptKind[] = ["prepare", "build", "postinst", "finalize"];

/** The man page's table: which script kinds receive which variable. */
export const SCRIPT_ENVIRONMENT_TABLE: Readonly<Record<string, readonly ScriptKind[]>> = {
  ARCHITECTURE: ALL,
  ARTIFACTDIR: IMAGE_KINDS,
  BUILDDIR: ["build", "postinst", "finalize"],
  BUILDROOT: IMAGE_KINDS,
  CACHED: ["sync"],
  CHROOT_BUILDDIR: ["build"],
  CHROOT_DESTDIR: ["build"],
  CHROOT_OUTPUTDIR: ["postinst", "finalize"],
  CHROOT_SCRIPT: IMAGE_KINDS,
  CHROOT_SRCDIR: IMAGE_KINDS,
  MKOSI_DEBUG: ALL,
  DESTDIR: ["build"],
  DISTRIBUTION: ALL,
  DISTRIBUTION_ARCHITECTURE: ALL,
  IMAGE_ID: ALL,
  IMAGE_VERSION: ALL,
  MKOSI_CONFIG: ["sync", "prepare", "build", "postinst", "finalize", "postoutput", "clean"],
  MKOSI_GID: ALL,
  MKOSI_UID: ALL,
  OUTPUTDIR: ["postinst", "finalize", "postoutput", "clean"],
  PACKAGEDIR: IMAGE_KINDS,
  PROFILES: ["configure", "sync", "prepare", "build", "postinst", "finalize", "clean"],
  QEMU_ARCHITECTURE: ["configure"],
  RELEASE: ALL,
  SOURCE_DATE_EPOCH: ["prepare", "build", "postinst", "finalize", "clean"],
  SRCDIR: ALL,
  WITH_DOCS: ["prepare", "build"],
  WITH_NETWORK: IMAGE_KINDS,
  WITH_TESTS: ["prepare", "build"],
};

/** Fixed paths inside the script sandbox. */
export const WORK = {
  src: "/work/src",
  out: "/work/out",
  dest: "/work/dest",
  build: "/work/build",
  packages: "/work/packages",
  artifacts: "/work/artifacts",
  config: "/work/config.json",
  helpers: "/scripts",
} as const;

/** The config fields scripts read (names and types as in `summary --json`). */
export interface ScriptConfig {
  Distribution: string;
  Release: string;
  Architecture: string;
  ImageId: string | null;
  ImageVersion: string | null;
  Profiles?: string[];
  Environment?: Record<string, string>;
  WithNetwork: boolean;
  WithDocs: boolean;
  WithTests: boolean;
  SourceDateEpoch: number | null;
  BuildSources?: { Source: string; Target: string | null }[];
}

export interface ScriptRunOptions {
  kind: ScriptKind;
  /** Script paths as configured: files (optionally `.chroot`) or `.d` directories. */
  scripts: string[];
  config: ScriptConfig;
  /** $MKOSI_CONFIG content (the image's `summary --json` object). */
  configJson?: string;
  /** Distribution's name for the architecture ($DISTRIBUTION_ARCHITECTURE). Defaults to Architecture. */
  distributionArchitecture?: string;
  /** Image root (bound at /buildroot) for prepare/build/postinst/finalize. */
  root?: string;
  /** prepare: "final" or "build". */
  phase?: "final" | "build";
  /** Arguments, overriding the kind's default (build: the command line after `--`). */
  args?: string[];
  /** Directory mounted at /work/src when no BuildSources are configured (mkosi's working directory). */
  workingDirectory?: string;
  outputDir?: string;
  destDir?: string;
  buildDir?: string;
  packageDir?: string;
  artifactDir?: string;
  /** sync: is a cached image available ($CACHED). */
  cached?: boolean;
  debug?: boolean;
  uid?: number;
  gid?: number;
  /** Package manager helpers (from Distribution.scriptSupport). */
  packageManager?: ScriptPackageManagerSupport;
  /** Caller-owned scratch directory (helpers, config.json). */
  workDir: string;
  /** Override the network policy of the kind. */
  network?: boolean;
  /** configure: JSON fed to the first script; each script's stdout feeds the next. */
  input?: string;
  signal?: AbortSignal;
  onOutput?: OutputCallback;
  /** Extra binds (e.g. SandboxTrees= pieces). */
  binds?: BindMount[];
  /** A sandbox /etc tree instead of the host's /etc (SandboxTrees=). */
  etc?: string;
  /** BuildSourcesEphemeral=: scripts see the sources through an overlay whose changes are dropped after
   * all scripts of this kind ran (needs root: the overlay is mounted on the host); with `persistIn` (build
   * scripts with BuildSourcesEphemeral=buildcache) the overlay's changes are kept in that directory as
   * mkosi.buildovl.<source name> and reused by the next run, as mkosi does. */
  ephemeralSources?: boolean | { persistIn: string };
  /** --debug-shell: how a shell opened after a failing script gets the terminal. */
  debugShell?: TerminalHandoff;
  /** ToolsTree=: the programs scripts see (/usr) come from this tree instead of the host. */
  tools?: ToolsTreeMount;
}

export interface ScriptRunResult {
  /** configure: the final JSON printed by the last script. */
  stdout?: string;
  /** Scripts actually run, in order. */
  ran: string[];
}

const QEMU_ARCHITECTURES: Record<string, string> = {
  "x86-64": "x86_64",
  x86: "i386",
  arm64: "aarch64",
  arm: "arm",
  alpha: "alpha",
  loongarch64: "loongarch64",
  "mips64-le": "mips64el",
  "mips-le": "mipsel",
  parisc: "hppa",
  ppc: "ppc",
  ppc64: "ppc64",
  "ppc64-le": "ppc64",
  riscv32: "riscv32",
  riscv64: "riscv64",
  s390x: "s390x",
};

export interface ExpandedScript {
  path: string;
  chroot: boolean;
}

/** Expand configured scripts: `.d` directories become their files in lexicographic order. */
export async function expandScripts(paths: readonly string[]): Promise<ExpandedScript[]> {
  const out: ExpandedScript[] = [];
  for (const p of paths) {
    const st = await stat(p);
    if (st.isDirectory()) {
      const entries = (await readdir(p)).sort();
      for (const e of entries) {
        const f = join(p, e);
        if ((await stat(f)).isFile()) out.push({ path: resolve(f), chroot: e.endsWith(".chroot") });
      }
    } else {
      out.push({ path: resolve(p), chroot: p.endsWith(".chroot") });
    }
  }
  return out;
}

function defaultArgs(o: ScriptRunOptions): string[] {
  if (o.args) return o.args;
  switch (o.kind) {
    case "sync":
    case "postinst":
      return ["final"];
    case "prepare":
      return [o.phase ?? "final"];
    default:
      return [];
  }
}

function defaultNetwork(o: ScriptRunOptions): boolean {
  if (o.network !== undefined) return o.network;
  return ["build", "postinst", "finalize"].includes(o.kind) ? o.config.WithNetwork : true;
}

const bool = (b: boolean) => (b ? "1" : "0");

/** Where a script of a kind is mounted ($CHROOT_SCRIPT); build scripts avoid /work/build ($BUILDDIR). */
export function scriptPath(kind: ScriptKind): string {
  return kind === "build" ? "/work/build-script" : `/work/${kind}`;
}

/**
 * The environment a script of `o.kind` gets (before PATH/TERM): exactly the variables of the man page
 * table for that kind (those whose value exists), then Environment=.
 */
export function scriptEnvironment(
  o: ScriptRunOptions,
  scriptName: ScriptKind = o.kind,
): Record<string, string> {
  const c = o.config;
  const values: Record<string, string | undefined> = {
    ARCHITECTURE: c.Architecture,
    ARTIFACTDIR: WORK.artifacts,
    BUILDDIR: o.buildDir ? WORK.build : undefined,
    BUILDROOT,
    CACHED: bool(o.cached ?? false),
    CHROOT_BUILDDIR: o.buildDir ? WORK.build : undefined,
    CHROOT_DESTDIR: WORK.dest,
    CHROOT_OUTPUTDIR: WORK.out,
    CHROOT_SCRIPT: scriptPath(scriptName),
    CHROOT_SRCDIR: WORK.src,
    MKOSI_DEBUG: bool(o.debug ?? false),
    DESTDIR: WORK.dest,
    DISTRIBUTION: c.Distribution,
    DISTRIBUTION_ARCHITECTURE: o.distributionArchitecture ?? c.Architecture,
    IMAGE_ID: c.ImageId ?? undefined,
    IMAGE_VERSION: c.ImageVersion ?? undefined,
    MKOSI_CONFIG: WORK.config,
    MKOSI_GID: String(o.gid ?? process.getgid?.() ?? 0),
    MKOSI_UID: String(o.uid ?? process.getuid?.() ?? 0),
    OUTPUTDIR: WORK.out,
    PACKAGEDIR: WORK.packages,
    PROFILES: c.Profiles && c.Profiles.length > 0 ? c.Profiles.join(",") : undefined,
    QEMU_ARCHITECTURE: QEMU_ARCHITECTURES[c.Architecture] ?? c.Architecture,
    RELEASE: c.Release,
    SOURCE_DATE_EPOCH: c.SourceDateEpoch != null ? String(c.SourceDateEpoch) : undefined,
    SRCDIR: WORK.src,
    WITH_DOCS: bool(c.WithDocs),
    WITH_NETWORK: bool(c.WithNetwork),
    WITH_TESTS: bool(c.WithTests),
  };
  const env: Record<string, string> = {};
  for (const [name, kinds] of Object.entries(SCRIPT_ENVIRONMENT_TABLE)) {
    const v = values[name];
    if (kinds.includes(o.kind) && v !== undefined) env[name] = v;
  }
  Object.assign(env, c.Environment ?? {});
  return env;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The mkosi-chroot helper: a nested bwrap with the image as root. */
function mkosiChrootHelper(network: boolean): string {
  return `#!/bin/sh
# mkosi-chroot: run a command inside the image at /buildroot.
set -u
case "$PWD" in /work|/work/*) dir="$PWD" ;; *) dir=/ ;; esac
created=
[ -e /buildroot/work ] || created=1
set -- --die-with-parent --bind /buildroot / --proc /proc --dev /dev --ro-bind-try /sys /sys \\
  --perms 1777 --tmpfs /tmp --perms 0755 --tmpfs /run --bind /work /work \\
  --setenv container mkosi --setenv HOME / --setenv BUILDROOT / \\
  --setenv PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
  --setenv SRCDIR "\${CHROOT_SRCDIR:-/work/src}" \\
  \${CHROOT_DESTDIR+--setenv DESTDIR "$CHROOT_DESTDIR"} \\
  \${CHROOT_BUILDDIR+--setenv BUILDDIR "$CHROOT_BUILDDIR"} \\
  \${CHROOT_OUTPUTDIR+--setenv OUTPUTDIR "$CHROOT_OUTPUTDIR"} \\
  --chdir "$dir" "$@"
${
  network
    ? `rc=$(readlink /buildroot/etc/resolv.conf 2>/dev/null || true)
case "$rc" in
  "") [ -e /buildroot/etc/resolv.conf ] && set -- --ro-bind /etc/resolv.conf /etc/resolv.conf "$@" ;;
  /run/*) set -- --ro-bind /etc/resolv.conf "$rc" "$@" ;;
  ../run/*) set -- --ro-bind /etc/resolv.conf "/\${rc#../}" "$@" ;;
esac
`
    : ""
}bwrap "$@"
status=$?
[ -n "$created" ] && rmdir /buildroot/work 2>/dev/null
exit $status
`;
}

/** Write the helper scripts into `<workDir>/helpers`; returns the directory. `tools` is the tools tree
 * the scripts run with, if any: the helpers wrap its programs. */
export async function writeHelpers(
  workDir: string,
  network: boolean,
  pm: ScriptPackageManagerSupport | undefined,
  tools?: ToolsTreeMount,
): Promise<string> {
  const usr = tools?.root ?? "/";
  const dir = join(workDir, "helpers");
  await mkdir(dir, { recursive: true });
  const helpers: Record<string, string> = {
    "mkosi-chroot": mkosiChrootHelper(network),
    "mkosi-as-caller": `#!/bin/sh\nexec setpriv --reuid="$MKOSI_UID" --regid="$MKOSI_GID" --clear-groups "$@"\n`,
  };
  for (const tool of ["useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel", "chpasswd"]) {
    if (existsSync(join(usr, `usr/sbin/${tool}`)))
      helpers[tool] = `#!/bin/sh\nexec /usr/sbin/${tool} --root /buildroot "$@"\n`;
  }
  if (existsSync(join(usr, "usr/bin/git")))
    helpers.git = `#!/bin/sh\nexec /usr/bin/git -c safe.directory='*' "$@"\n`;
  if (pm) {
    const exports = Object.entries(pm.env)
      .map(([k, v]) => `export ${k}=${shellQuote(v)}`)
      .join("\n");
    for (const [name, text] of Object.entries(pm.helpers)) {
      // Insert the package manager's environment after the shebang line.
      const nl = text.indexOf("\n");
      helpers[name] = `${text.slice(0, nl + 1)}${exports}\n${text.slice(nl + 1)}`;
    }
  } else {
    for (const op of ["install", "remove", "upgrade", "reinstall"]) {
      helpers[`mkosi-${op}`] =
        `#!/bin/sh\necho "mkosi-${op}: no package manager for this distribution" >&2\nexit 1\n`;
    }
  }
  for (const [name, text] of Object.entries(helpers)) {
    const p = join(dir, name);
    await writeFile(p, text);
    await chmod(p, 0o755);
  }
  // mkosi-chroot nests bwrap; a tools tree without it (the default one has none) gets the host's.
  if (tools && !existsSync(join(tools.root, "usr/bin/bwrap")) && existsSync("/usr/bin/bwrap")) {
    await copyFile("/usr/bin/bwrap", join(dir, "bwrap"));
    await chmod(join(dir, "bwrap"), 0o755);
  }
  return dir;
}

function sourceBinds(o: ScriptRunOptions): BindMount[] {
  const sources = o.config.BuildSources ?? [];
  if (sources.length === 0) {
    return [{ src: resolve(o.workingDirectory ?? process.cwd()), dst: WORK.src }];
  }
  return [...sources]
    .map((s) => ({ src: s.Source, dst: s.Target ? join(WORK.src, s.Target) : WORK.src }))
    .sort((a, b) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
}

/** Run all scripts of one kind, in order. Rejects on the first failing script. */
export async function runScripts(o: ScriptRunOptions): Promise<ScriptRunResult> {
  const scripts = await expandScripts(o.scripts);
  if (scripts.length === 0) return { ran: [], stdout: o.input };
  const network = defaultNetwork(o);
  await mkdir(o.workDir, { recursive: true });
  const helpers = await writeHelpers(o.workDir, network, o.packageManager, o.tools);
  const configFile = join(o.workDir, "config.json");
  if (o.configJson !== undefined) await writeFile(configFile, o.configJson);
  const image = IMAGE_KINDS.includes(o.kind);
  if (image && !o.root) throw new Error(`${o.kind} scripts need the image root`);
  let sources = sourceBinds(o);
  const mounts: OverlayMount[] = [];
  if (o.ephemeralSources) {
    const eph = join(o.workDir, "ephemeral-sources");
    await rm(eph, { recursive: true, force: true });
    try {
      const out: BindMount[] = [];
      const persistIn = typeof o.ephemeralSources === "object" ? o.ephemeralSources.persistIn : undefined;
      for (const [i, b] of sources.entries()) {
        let [upper, work, target] = ["upper", "work", "merged"].map((d) => join(eph, String(i), d));
        if (persistIn) {
          // On the build directory's file system, as overlayfs wants upper and work directories together.
          upper = join(persistIn, `mkosi.buildovl.${basename(b.src)}`);
          work = join(persistIn, `.mkosi.buildovl.${basename(b.src)}.work`);
          await mkdir(upper, { recursive: true, mode: (await stat(b.src)).mode & 0o7777 });
        }
        for (const d of [upper!, work!, target!]) await mkdir(d, { recursive: true });
        const { mountOverlay } = await import("./overlay.js");
        mounts.push(await mountOverlay({ lowers: [b.src], upper: upper!, work: work!, target: target! }));
        out.push({ ...b, src: target! });
      }
      sources = out;
    } catch (e) {
      for (const m of mounts.reverse()) await m.unmount();
      throw e;
    }
  }
  try {
    return await runEach(o, scripts, sources, helpers, configFile, network, image);
  } finally {
    for (const m of mounts.reverse()) await m.unmount();
    if (o.ephemeralSources) await rm(join(o.workDir, "ephemeral-sources"), { recursive: true, force: true });
  }
}

async function runEach(
  o: ScriptRunOptions,
  scripts: ExpandedScript[],
  sources: BindMount[],
  helpers: string,
  configFile: string,
  network: boolean,
  image: boolean,
): Promise<ScriptRunResult> {
  const ran: string[] = [];
  let input = o.input;
  for (const s of scripts) {
    const binds: BindMount[] = [
      ...sources,
      { src: helpers, dst: WORK.helpers, readOnly: true },
      { src: s.path, dst: scriptPath(o.kind), readOnly: true },
    ];
    if (o.configJson !== undefined && o.kind !== "configure")
      binds.push({ src: configFile, dst: WORK.config, readOnly: true });
    const dirs: [string | undefined, string, ScriptKind[]][] = [
      [o.outputDir, WORK.out, ["postinst", "finalize", "postoutput", "clean"]],
      [o.destDir, WORK.dest, ["build"]],
      [o.buildDir, WORK.build, ["build", "postinst", "finalize"]],
      [o.packageDir, WORK.packages, [...IMAGE_KINDS]],
      [o.artifactDir, WORK.artifacts, [...IMAGE_KINDS]],
    ];
    for (const [src, dst, kinds] of dirs) {
      if (src && kinds.includes(o.kind))
        binds.push({ src, dst, readOnly: o.kind !== "build" && dst === WORK.build });
    }
    if (o.packageManager && image) binds.push(...o.packageManager.binds);
    if (o.kind === "sync") {
      binds.push({ src: "/home", dst: "/home", readOnly: true, optional: true });
      binds.push({ src: "/run", dst: "/run", readOnly: true });
    }
    binds.push(...(o.binds ?? []));
    const env: Record<string, string> = {
      PATH: `${WORK.helpers}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      ...(process.env.TERM ? { TERM: process.env.TERM } : {}),
      ...scriptEnvironment(o),
    };
    const args = defaultArgs(o);
    const cmd = s.chroot
      ? [`${WORK.helpers}/mkosi-chroot`, scriptPath(o.kind), ...args]
      : [scriptPath(o.kind), ...args];
    const extraArgs: string[] = [];
    // Package managers run from scripts need /proc and /dev inside the image for maintainer scripts.
    // (and /run as a tmpfs, so nothing they leave there lands in the image).
    if (image && o.root) {
      extraArgs.push(
        "--proc",
        `${BUILDROOT}/proc`,
        "--dev",
        `${BUILDROOT}/dev`,
        "--tmpfs",
        `${BUILDROOT}/run`,
      );
    }
    const capture = o.kind === "configure";
    const debugShell: DebugShell | undefined = o.debugShell && {
      terminal: o.debugShell,
      what: `${o.kind} script ${basename(s.path)}`,
      ...(s.chroot ? { prefix: [`${WORK.helpers}/mkosi-chroot`], shellRoot: o.root ?? "/" } : {}),
    };
    const { runSandboxed } = await import("./run.js");
    const r = await runSandboxed(cmd, {
      mode: "tools",
      etc: o.etc ?? (image ? o.packageManager?.etc : undefined),
      tools: o.tools,
      root: image ? o.root : undefined,
      network,
      env,
      cwd: WORK.src,
      binds,
      extraArgs,
      signal: o.signal,
      onOutput: o.onOutput,
      captureStdout: capture,
      input: capture ? (input ?? "") : undefined,
      debugShell,
    }).catch((e: Error) => {
      throw new Error(`${o.kind} script ${basename(s.path)} failed: ${e.message}`);
    });
    if (capture) input = r.stdout;
    ran.push(s.path);
  }
  return { ran, stdout: input };
}
