// Running commands: on the host (`runCommand`) or in a mount namespace built with bubblewrap
// (`runSandboxed`). Both stream output line by line to a callback, take the environment explicitly, keep a
// tail of the output for error messages, and on AbortSignal kill the whole process group (and, in the
// sandbox, the whole PID namespace: bwrap runs with --unshare-pid and --die-with-parent).
//
// Two sandbox layouts:
//  - "tools": the host's /usr (and the /bin, /sbin, /lib* symlinks or binds) read-only, /etc from the
//    host (read-only) or from a sandbox tree, fresh /proc /dev /tmp /run /var/tmp, the image root bound
//    at /buildroot (optionally with API filesystems mounted inside it for package managers), plus
//    caller binds (the /work/... directories of scripts, apt state, ...).
//    With a tools tree (`tools`, ToolsTree=), /usr and the /usr-merge entries come from that tree instead,
//    and so do the parts of /etc that belong to its /usr: /etc/alternatives and /etc/ld.so.cache, and
//    with ToolsTreeCertificates= its CA certificates (/etc/ssl, /etc/ca-certificates, /etc/pki/{ca-trust,
//    tls}, /var/lib/ca-certificates); the rest of /etc stays the host's (or the sandbox tree's).
//  - "chroot": the image root is `/`, with /proc /dev /sys /tmp /run, and the host's resolv.conf when
//    the network is on.
//
// As root (real root, or root of the user namespace an unprivileged mkosi enters, see userns.ts), bwrap
// creates no user namespace of its own and the sandboxed command keeps all capabilities (--cap-add ALL),
// so dpkg can chroot and chown. `becomeRoot` is for callers that are not root at all: bwrap then maps the
// caller alone to uid 0 in a new user namespace, where chown to other ids and device nodes fail.
//
// --debug-shell: a sandboxed command given `debugShell` that fails (not when cancelled) is followed by an
// interactive shell (bash, else sh) in the same sandbox: the same layout, root, binds, environment and
// working directory, with the image still mounted, stdin/stdout/stderr those of mkosi. The shell runs
// through `DebugShell.terminal`, which the CLI implements by pausing its progress view and serializing
// shells of nodes that fail in parallel. When the shell exits, the command's error is thrown as usual.
import { spawn } from "node:child_process";
import { existsSync, lstatSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { CommandError, spawnCommand } from "../engine/command.js";
import { BUILDROOT } from "./paths.js";

export { CommandError } from "../engine/command.js";
export type OutputStream = "stdout" | "stderr";
export type OutputCallback = (line: string, stream: OutputStream) => void;

export interface CommandOptions {
  /** The complete environment of the command (nothing is inherited). PATH defaults to /usr/bin:/usr/sbin. */
  env?: Record<string, string>;
  cwd?: string;
  signal?: AbortSignal;
  /** Called for every output line (without the newline). Stdout lines are not reported when captured. */
  onOutput?: OutputCallback;
  input?: string | Buffer;
  /** Collect stdout into the result instead of streaming it. */
  captureStdout?: boolean;
  /** Reject on a non-zero exit status (default true). */
  check?: boolean;
  /** Lines of output kept for error messages (default 30). */
  tailLines?: number;
}

export interface CommandResult {
  exitCode: number;
  stdout: string;
}

export const DEFAULT_PATH = "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin";

/** Run a command on the host (engine/command.ts runs it). See CommandOptions. */
export function runCommand(cmd: readonly string[], opts: CommandOptions = {}): Promise<CommandResult> {
  return spawnCommand(cmd, {
    env: { PATH: DEFAULT_PATH, ...(opts.env ?? {}) },
    cwd: opts.cwd,
    signal: opts.signal,
    input: opts.input,
    captureStdout: opts.captureStdout,
    check: opts.check,
    onLine: opts.onOutput,
    tailLines: opts.tailLines,
  });
}

// ---------------------------------------------------------------------------------------------

export interface BindMount {
  src: string;
  dst: string;
  readOnly?: boolean;
  /** Skip silently if `src` does not exist. */
  optional?: boolean;
}

export interface SandboxOptions extends CommandOptions {
  /** "tools" (default): host tools, image at /buildroot. "chroot": the image is the root directory. */
  mode?: "tools" | "chroot";
  /** The image root directory (required for "chroot"). */
  root?: string;
  /** Bind the image read-only. */
  rootReadOnly?: boolean;
  /** tools mode: mount /proc, /dev, /sys and tmpfs /run, /tmp inside /buildroot (for package managers
   * whose maintainer scripts run chrooted into the image). */
  apivfs?: boolean;
  /** tools mode: a directory to use as /etc instead of the host's /etc. */
  etc?: string;
  /** tools mode: the tools tree whose programs run instead of the host's (ToolsTree=). */
  tools?: ToolsTreeMount;
  /** Additional bind mounts, applied after the layout (so they can cover parts of it). */
  binds?: BindMount[];
  /** Extra empty directories / tmpfs mounts to create. */
  dirs?: string[];
  tmpfs?: string[];
  /** Keep the network (default: a new, empty network namespace). */
  network?: boolean;
  /** Bind the host /dev instead of a minimal one (loop devices, ...). */
  devices?: boolean;
  /** Unprivileged only: map the caller to root inside a user namespace. */
  becomeRoot?: boolean;
  /** Whether the caller is privileged (real root): no user namespace, all capabilities kept. Defaults to
   * `getuid() === 0`; set false to build an argument vector for an unprivileged bwrap. */
  privileged?: boolean;
  /** Extra raw bwrap arguments, inserted before the command. */
  extraArgs?: string[];
  /** --debug-shell: when the command fails, open an interactive shell in its sandbox first. */
  debugShell?: DebugShell;
}

/** Hands the user's terminal to `fn`: whoever draws on it (a live progress view) stands aside until `fn`
 * settles, and only one caller has it at a time. `title` says why (shown before `fn` runs). */
export type TerminalHandoff = <T>(title: string, fn: () => Promise<T>) => Promise<T>;

export interface DebugShell {
  terminal: TerminalHandoff;
  /** What failed, for the message shown before the shell (default: the command). */
  what?: string;
  /** Run the shell through this command, as the failing command was (e.g. the mkosi-chroot helper of a
   * `.chroot` script, so the shell opens inside the image). */
  prefix?: string[];
  /** Host directory holding the filesystem the shell runs in, to look for bash there (default: the
   * image root in chroot mode, the host otherwise; with `prefix`, set it to where the prefix enters). */
  shellRoot?: string;
}

/** Without a progress view: just one shell at a time. */
export function plainTerminal(): TerminalHandoff {
  let queue: Promise<unknown> = Promise.resolve();
  return <T>(title: string, fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(() => {
      process.stderr.write(`‣ ${title}\n`);
      return fn();
    });
    queue = next.catch(() => undefined);
    return next;
  };
}

export { BUILDROOT };

/** A tools tree as the sandbox sees it: a directory on the host holding /usr (a path, or a mounted layer
 * stack of the default tools tree). */
export interface ToolsTreeMount {
  root: string;
  /** ToolsTreeCertificates=: use the tree's CA certificates rather than the host's. */
  certificates: boolean;
}

const isRoot = () => process.getuid?.() === 0;

/** Top-level entries of the /usr merge of `root` (the host's by default): symlinks (merged /usr) or real
 * directories. */
function usrLinks(root = "/"): string[] {
  const args: string[] = [];
  for (const name of ["bin", "sbin", "lib", "lib32", "lib64", "libx32"]) {
    const p = join(root, name);
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push("--symlink", readlinkSync(p), `/${name}`);
    else if (st.isDirectory()) args.push("--ro-bind", p, `/${name}`);
  }
  return args;
}

/** Pieces of a tools tree's /etc (and /var) that go with its /usr. */
const TOOLS_TREE_ETC = ["etc/alternatives", "etc/ld.so.cache"];
const TOOLS_TREE_CERTIFICATES = [
  "etc/ssl",
  "etc/ca-certificates",
  "etc/pki/ca-trust",
  "etc/pki/tls",
  "var/lib/ca-certificates",
];

/** bwrap arguments that put a tools tree's /usr (and what belongs to it) in place of the host's. `etc` is
 * the directory bound at /etc: a piece of the tree's /etc is bound over it only where it has the mount
 * point (bwrap cannot create one inside a read-only bind). */
export function toolsTreeArgs(tools: ToolsTreeMount, etc: string): string[] {
  const a = ["--ro-bind", join(tools.root, "usr"), "/usr", ...usrLinks(tools.root)];
  const pieces = [...TOOLS_TREE_ETC, ...(tools.certificates ? TOOLS_TREE_CERTIFICATES : [])];
  for (const piece of pieces) {
    if (!existsSync(join(tools.root, piece))) continue;
    if (piece.startsWith("etc/") && !existsSync(join(etc, piece.slice("etc/".length)))) continue;
    a.push("--ro-bind", join(tools.root, piece), `/${piece}`);
  }
  return a;
}

/** Where the host resolver configuration really lives (resolv.conf is often a symlink into /run). */
function hostResolvConf(): string | undefined {
  return existsSync("/etc/resolv.conf") ? "/etc/resolv.conf" : undefined;
}

/** For a chroot: bind the host resolv.conf at the place the image's /etc/resolv.conf points to. */
function chrootResolvConf(root: string): string[] {
  const host = hostResolvConf();
  if (!host) return [];
  let dest = "/etc/resolv.conf";
  try {
    const st = lstatSync(`${root}/etc/resolv.conf`);
    if (st.isSymbolicLink()) {
      const target = readlinkSync(`${root}/etc/resolv.conf`);
      const abs = target.startsWith("/") ? target : `/etc/${target}`;
      const norm = new URL(abs, "file:///").pathname;
      // Only follow into the tmpfs mounts we create, never write into the image through a symlink.
      if (norm.startsWith("/run/") || norm.startsWith("/tmp/")) dest = norm;
      else return [];
    }
  } catch {
    if (!existsSync(`${root}/etc`)) return [];
    // /etc/resolv.conf does not exist: bwrap creates the mount point file inside the image; avoid that.
    return [];
  }
  return ["--ro-bind", host, dest];
}

function bindArgs(binds: readonly BindMount[]): string[] {
  const out: string[] = [];
  for (const b of binds) {
    const op = `${b.readOnly ? "--ro-bind" : "--bind"}${b.optional ? "-try" : ""}`;
    out.push(op, b.src, b.dst);
  }
  return out;
}

/** The bwrap argument vector (without the `bwrap` itself) for a command. Exposed so helpers that need
 * a nested sandbox (mkosi-chroot) can be generated from the same logic. */
export function bwrapArgs(cmd: readonly string[], opts: SandboxOptions): string[] {
  const a: string[] = [
    "--die-with-parent",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
  ];
  if (!opts.network) a.push("--unshare-net");
  if (opts.privileged ?? isRoot()) a.push("--cap-add", "ALL");
  else if (opts.becomeRoot) a.push("--unshare-user", "--uid", "0", "--gid", "0", "--cap-add", "ALL");
  const mode = opts.mode ?? "tools";
  if (mode === "chroot") {
    if (!opts.root) throw new Error("runSandboxed: chroot mode needs a root");
    a.push(opts.rootReadOnly ? "--ro-bind" : "--bind", opts.root, "/");
    a.push("--proc", "/proc");
    a.push(...(opts.devices ? ["--dev-bind", "/dev", "/dev"] : ["--dev", "/dev"]));
    a.push("--ro-bind-try", "/sys", "/sys");
    a.push("--perms", "1777", "--tmpfs", "/tmp", "--perms", "0755", "--tmpfs", "/run");
    if (opts.network) a.push(...chrootResolvConf(opts.root));
  } else {
    if (!opts.tools) a.push("--ro-bind", "/usr", "/usr", ...usrLinks());
    a.push("--ro-bind", opts.etc ?? "/etc", "/etc");
    if (opts.tools) a.push(...toolsTreeArgs(opts.tools, opts.etc ?? "/etc"));
    if (opts.etc && opts.network) {
      const rc = hostResolvConf();
      if (rc) a.push("--ro-bind", rc, "/etc/resolv.conf");
    }
    a.push("--ro-bind-try", "/nix/store", "/nix/store");
    a.push("--proc", "/proc");
    a.push(...(opts.devices ? ["--dev-bind", "/dev", "/dev"] : ["--dev", "/dev"]));
    a.push("--ro-bind-try", "/sys", "/sys");
    a.push("--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/var/tmp");
    a.push("--perms", "0755", "--tmpfs", "/run");
    if (opts.network) a.push("--ro-bind-try", "/run/systemd/resolve", "/run/systemd/resolve");
    if (opts.root) {
      a.push(opts.rootReadOnly ? "--ro-bind" : "--bind", opts.root, BUILDROOT);
      if (opts.apivfs) {
        a.push("--proc", `${BUILDROOT}/proc`, "--dev", `${BUILDROOT}/dev`);
        a.push("--ro-bind-try", "/sys", `${BUILDROOT}/sys`);
        a.push(
          "--perms",
          "1777",
          "--tmpfs",
          `${BUILDROOT}/tmp`,
          "--perms",
          "0755",
          "--tmpfs",
          `${BUILDROOT}/run`,
        );
      }
    }
  }
  for (const d of opts.dirs ?? []) a.push("--dir", d);
  for (const t of opts.tmpfs ?? []) a.push("--tmpfs", t);
  a.push(...bindArgs(opts.binds ?? []));
  if (opts.cwd) a.push("--chdir", opts.cwd);
  a.push(...(opts.extraArgs ?? []));
  a.push("--", ...cmd);
  return a;
}

/** Run a command in a bubblewrap sandbox (see SandboxOptions); output and errors as runCommand. */
export function runSandboxed(cmd: readonly string[], opts: SandboxOptions = {}): Promise<CommandResult> {
  const args = bwrapArgs(cmd, opts);
  // cwd is applied inside the sandbox (--chdir); bwrap itself runs from /.
  return runCommand(["bwrap", ...args], { ...opts, cwd: "/" }).catch(async (e: unknown) => {
    if (!(e instanceof CommandError)) throw e;
    // Named after the sandboxed command, not bwrap.
    const error = new CommandError({
      command: cmd,
      exitCode: e.exitCode,
      signal: e.signal,
      logTail: e.logTail,
      cancelled: e.cancelled,
    });
    if (opts.debugShell && !error.cancelled && !opts.signal?.aborted) {
      await debugShell(error, opts, opts.debugShell).catch((shellError: unknown) => {
        process.stderr.write(`‣ Could not start the debug shell: ${(shellError as Error).message}\n`);
      });
    }
    throw error;
  });
}

/** The shell to run where `root` (a host directory) is the root: bash if it has one, else sh. */
export function shellIn(root: string): string {
  for (const candidate of ["/bin/bash", "/usr/bin/bash"])
    if (existsSync(join(root, candidate))) return candidate;
  return "/bin/sh";
}

/** The argument vector of the debug shell for a failed sandboxed command (without `bwrap`). */
export function debugShellArgs(opts: SandboxOptions, shell: DebugShell): string[] {
  const root = shell.shellRoot ?? ((opts.mode ?? "tools") === "chroot" && opts.root ? opts.root : "/");
  const { debugShell: _, ...sandbox } = opts;
  return bwrapArgs([...(shell.prefix ?? []), shellIn(root)], sandbox);
}

/** Runs the debug shell of a failed command on the user's terminal and waits for it to exit. */
function debugShell(error: CommandError, opts: SandboxOptions, shell: DebugShell): Promise<void> {
  const args = debugShellArgs(opts, shell);
  const failed = shell.what ?? error.command.join(" ");
  const status = error.signal ? `was killed by ${error.signal}` : `failed with exit status ${error.exitCode}`;
  return shell.terminal(
    `${failed} ${status}: starting a debug shell in its sandbox (exit it to continue)`,
    () =>
      new Promise<void>((resolvePromise, reject) => {
        // Not detached: the shell belongs to the terminal's foreground process group, so it can read from
        // the terminal and job control works. Its exit status does not matter: the command failed.
        const child = spawn("bwrap", args, {
          cwd: "/",
          env: { PATH: DEFAULT_PATH, ...(opts.env ?? {}) },
          stdio: "inherit",
        });
        // Cancelling the build (SIGTERM) ends the shell too; bwrap takes its sandbox with it.
        const onAbort = () => child.kill("SIGTERM");
        opts.signal?.addEventListener("abort", onAbort, { once: true });
        child.on("error", reject);
        child.on("close", () => {
          opts.signal?.removeEventListener("abort", onAbort);
          resolvePromise();
        });
      }),
  );
}
