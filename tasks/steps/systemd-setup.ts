// The systemd steps of the execution flow, in mkosi's order: systemd-sysusers, systemd-tmpfiles,
// `systemctl preset-all`, depmod, systemd-firstboot (Locale=, Keymap=, Timezone=, Hostname=,
// RootPassword=, RootShell=, also stored as credentials in /usr/lib/credstore) and systemd-hwdb.
// Each tool runs against the image with --root, and only when the image ships its configuration. With a
// tools tree (ToolsTree=), the tools are the tree's and run in the tools sandbox with the image at
// /buildroot; otherwise they are the host's and run directly.

import { appendFile, chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { NodeId, TaskContext, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import { BUILDROOT } from "../../sandbox/paths.js";
import type { TerminalHandoff, ToolsTreeMount } from "../../sandbox/run.js";
import { debugShellOf } from "../env.js";
import { pathExists } from "../fsutil.js";
import { withLayer } from "../layers.js";
import { imageBelow, type Step } from "../step.js";
import { type ToolsTree, toolInputs, withToolInputs, withToolsTree } from "../toolstree.js";

interface Params {
  locale: string | null;
  localeMessages: string | null;
  keymap: string | null;
  timezone: string | null;
  hostname: string | null;
  rootPassword: [string, boolean] | null;
  rootShell: string | null;
  /** With SourceDateEpoch= the password salt is derived, not random, so /etc/shadow is reproducible.
   * (Seed= is random per invocation unless pinned, so it must not enter the key.) */
  sourceDateEpoch: number | null;
  prev: NodeId;
  /** --debug-shell (not an input: it only acts after a failure). */
  debugShell?: TerminalHandoff;
  tools: ToolsTree | null;
}

/** Runs one tool: the host's directly, or the tools tree's in the tools sandbox. */
type Tool = (
  argv: string[],
  options?: { input?: string; captureStdout?: boolean },
) => Promise<{ stdout: string }>;

function toolRunner(ctx: TaskContext, p: Params, root: string, tools: ToolsTreeMount | undefined): Tool {
  if (!tools) return (argv, options) => ctx.exec(argv[0]!, argv.slice(1), options);
  return async (argv, options) =>
    (await import("../../sandbox/run.js")).runSandboxed(argv, {
      mode: "tools",
      tools,
      root,
      network: false,
      env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", SYSTEMD_OFFLINE: "1" },
      input: options?.input,
      captureStdout: options?.captureStdout,
      signal: ctx.signal,
      onOutput: (line, stream) => ctx.log(line, stream),
      debugShell: p.debugShell && { terminal: p.debugShell },
    });
}

/**
 * SHA-512 crypt hash of a clear-text password (openssl, present on every Debian system). The salt is not
 * random, so that the same inputs give the same layer: with SourceDateEpoch= (a reproducible build) it
 * derives from the epoch and the password, the same on every machine; otherwise from a keyed digest with the
 * cache's secret key, so it is the same on every rebuild here and unrelated to any other cache's.
 */
async function hashPassword(
  tool: Tool,
  password: string,
  epoch: number | null,
  keyed: (data: string) => string,
): Promise<string> {
  const { createHash } = await import("node:crypto");
  const seed =
    epoch !== null
      ? createHash("sha256").update(`${epoch}\0${password}`).digest()
      : Buffer.from(keyed(`root-password-salt\0${password}`), "hex");
  const salt = seed.toString("base64url").slice(0, 16).replace(/[-_]/g, ".");
  const { stdout } = await tool(["openssl", "passwd", "-6", "-stdin", "-salt", salt], {
    input: password,
    captureStdout: true,
  });
  return stdout.trim();
}

/** The image's own copy of a tool, if it ships one (its version matches the image's data formats). */
async function imageTool(root: string, name: string): Promise<string | undefined> {
  for (const dir of ["usr/bin", "usr/sbin", "bin", "sbin"]) {
    if (await pathExists(join(root, dir, name))) return `/${dir}/${name}`;
  }
  return undefined;
}

/** Run a command chrooted into the image, without network. */
async function inImage(ctx: TaskContext, p: Params, root: string, argv: string[]): Promise<void> {
  const { runSandboxed } = await import("../../sandbox/run.js");
  await runSandboxed(argv, {
    mode: "chroot",
    root,
    network: false,
    env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", SYSTEMD_OFFLINE: "1" },
    signal: ctx.signal,
    onOutput: (line, stream) => ctx.log(line, stream),
    debugShell: p.debugShell && { terminal: p.debugShell },
  });
}

/** Run a tool that reports "nothing to do / partially applied" with exit 65 or 73 (as tmpfiles does). */
async function tolerant(tool: Tool, argv: string[]): Promise<void> {
  await tool(["sh", "-c", '"$@"; rc=$?; [ $rc = 65 ] || [ $rc = 73 ] && exit 0; exit $rc', "sh", ...argv]);
}

async function writeCredentials(root: string, credentials: Record<string, string>): Promise<void> {
  if (Object.keys(credentials).length === 0) return;
  const dir = join(root, "usr/lib/credstore");
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o700);
  for (const [name, value] of Object.entries(credentials)) {
    await writeFile(join(dir, name), value, { mode: 0o600 });
  }
}

const task: TaskDefinition<Params> = {
  name: "systemd-setup",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) =>
    withToolInputs(
      {
        values: {
          Locale: p.locale,
          LocaleMessages: p.localeMessages,
          Keymap: p.keymap,
          Timezone: p.timezone,
          Hostname: p.hostname,
          RootShell: p.rootShell,
          SourceDateEpoch: p.sourceDateEpoch,
        },
        secrets: { RootPassword: p.rootPassword },
        deps: { image: p.prev },
      },
      toolInputs(p.tools, [
        "systemd-sysusers",
        "systemd-tmpfiles",
        "systemctl",
        "depmod",
        "systemd-firstboot",
        "openssl",
      ]),
    ),
  run: (ctx, p) => withToolsTree(ctx, p.tools, (tools) => setup(ctx, p, tools)),
};

async function setup(ctx: TaskContext, p: Params, tools: ToolsTreeMount | undefined) {
  return withLayer(ctx, ctx.deps.image, async ({ root }) => {
    const tool = toolRunner(ctx, p, root, tools);
    // Where the tools see the image.
    const at = tools ? BUILDROOT : root;
    const rootArg = `--root=${at}`;
    if (
      (await pathExists(join(root, "usr/lib/sysusers.d"))) ||
      (await pathExists(join(root, "etc/sysusers.d")))
    )
      await tool(["systemd-sysusers", rootArg]);
    if (await pathExists(join(root, "usr/lib/tmpfiles.d")))
      await tolerant(tool, [
        "systemd-tmpfiles",
        rootArg,
        "--boot",
        "--create",
        "--remove",
        "--exclude-prefix=/dev",
        "--exclude-prefix=/proc",
        "--exclude-prefix=/sys",
        "--exclude-prefix=/run",
        "--exclude-prefix=/tmp",
        "--exclude-prefix=/var/tmp",
      ]);
    // systemd-hwdb reads only the hwdb files and writes only hwdb.bin, which none of the other tools
    // reads or writes: it runs alongside them (it is the slowest of all), after tmpfiles, which could
    // create hwdb files. Both finish before the layer is unmounted, also when one fails.
    const settled = await Promise.allSettled([
      presetAndFirstboot(p, root, at, tool, ctx.keyedDigest),
      updateHwdb(ctx, p, root),
    ]);
    for (const result of settled) if (result.status === "rejected") throw result.reason;
    return undefined;
  });
}

/** `systemctl preset-all`, depmod and systemd-firstboot, in mkosi's order. `at` is where the tools see
 * the image. */
async function presetAndFirstboot(
  p: Params,
  root: string,
  at: string,
  tool: Tool,
  keyed: (data: string) => string,
): Promise<void> {
  const rootArg = `--root=${at}`;
  if (await pathExists(join(root, "usr/bin/systemctl"))) {
    await tool(["systemctl", rootArg, "--preset-mode=enable-only", "preset-all"]);
  }
  const modules = join(root, "usr/lib/modules");
  if (await pathExists(modules)) {
    for (const kver of await readdir(modules)) {
      if (await pathExists(join(modules, kver, "kernel"))) await tool(["depmod", "--basedir", at, kver]);
    }
  }

  const firstboot: string[] = [];
  const credentials: Record<string, string> = {};
  if (p.locale) {
    firstboot.push(`--locale=${p.locale}`);
    credentials["firstboot.locale"] = p.locale;
  }
  if (p.localeMessages) {
    firstboot.push(`--locale-messages=${p.localeMessages}`);
    credentials["firstboot.locale-messages"] = p.localeMessages;
  }
  if (p.keymap) {
    firstboot.push(`--keymap=${p.keymap}`);
    credentials["firstboot.keymap"] = p.keymap;
  }
  if (p.timezone) {
    firstboot.push(`--timezone=${p.timezone}`);
    credentials["firstboot.timezone"] = p.timezone;
  }
  if (p.hostname) {
    firstboot.push(`--hostname=${p.hostname}`);
    credentials["system.hostname"] = p.hostname;
  }
  if (p.rootPassword) {
    const [password, hashed] = p.rootPassword;
    const hash = hashed ? password : await hashPassword(tool, password, p.sourceDateEpoch, keyed);
    firstboot.push(`--root-password-hashed=${hash}`);
    credentials["passwd.hashed-password.root"] = hash;
  }
  if (p.rootShell) {
    firstboot.push(`--root-shell=${p.rootShell}`);
    credentials["passwd.shell.root"] = p.rootShell;
  }
  if (p.rootPassword) await ensureRootShadowEntry(root, p.sourceDateEpoch);
  if (firstboot.length > 0) {
    try {
      await tool(["systemd-firstboot", rootArg, "--force", ...firstboot]);
    } catch (err) {
      // The failure report shows the command line: not the password's hash.
      const command = (err as { command?: unknown }).command;
      if (Array.isArray(command)) {
        for (let i = 0; i < command.length; i++)
          if (String(command[i]).startsWith("--root-password-hashed="))
            command[i] = "--root-password-hashed=(secret)";
      }
      throw err;
    }
    await writeCredentials(root, credentials);
  }
}

/** systemd-firstboot (252, the host's here) sets root's password only by replacing an existing root line
 * of /etc/shadow: when the image has a shadow file without one (sysusers created it for its own users),
 * the password would be silently dropped. Give it a locked root line to replace. */
async function ensureRootShadowEntry(root: string, epoch: number | null): Promise<void> {
  const shadow = join(root, "etc/shadow");
  let text: string;
  try {
    text = await readFile(shadow, "utf8");
  } catch {
    return; // no shadow file: firstboot creates it with root's line
  }
  if (/^root:/m.test(text)) return;
  const days = Math.floor((epoch ?? Date.now() / 1000) / 86400);
  await appendFile(shadow, `${text === "" || text.endsWith("\n") ? "" : "\n"}root:!:${days}::::::\n`);
}

/** systemd-hwdb, the image's own (hwdb.bin's format is the image's udev's). */
async function updateHwdb(ctx: TaskContext, p: Params, root: string): Promise<void> {
  const hwdb = await imageTool(root, "systemd-hwdb");
  if (
    hwdb &&
    ((await pathExists(join(root, "usr/lib/udev/hwdb.d"))) ||
      (await pathExists(join(root, "lib/udev/hwdb.d"))))
  )
    await inImage(ctx, p, root, [hwdb, "--usr", "update"]);
}

export const systemdSetup: Step<Params> = {
  name: "systemd-setup",
  task,
  reads: [
    "Locale",
    "LocaleMessages",
    "Keymap",
    "Timezone",
    "Hostname",
    "RootPassword",
    "RootShell",
    "SourceDateEpoch",
  ],
  layer: true,
  wanted: () => true,
  params: (context) => {
    const { image } = context;
    const prev = imageBelow(context, "systemd-setup");
    return {
      locale: image.Locale,
      localeMessages: image.LocaleMessages,
      keymap: image.Keymap,
      timezone: image.Timezone,
      hostname: image.Hostname,
      rootPassword: image.RootPassword,
      rootShell: image.RootShell,
      sourceDateEpoch: image.SourceDateEpoch,
      prev,
      debugShell: debugShellOf(context.env),
      tools: context.tools,
    };
  },
};
