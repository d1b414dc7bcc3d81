// Helpers for the real-build integration tests: config trees in temporary directories that use this
// host's Debian mirror (read from its apt sources, so no mirror is named here), a package cache shared by
// every test, and `bin/mkosi --json build` runs whose JSON event stream tells which nodes ran.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { EngineEvent } from "../../engine/api.js";

export const REPO = resolve(import.meta.dirname, "../..");
export const MKOSI = join(REPO, "bin/mkosi");

/** Downloaded .debs shared by all tests (and kept between CI runs on the same machine). */
export const PACKAGE_CACHE = process.env.MKOSI_TEST_PACKAGE_CACHE ?? "/var/cache/mkosi-ts-test/packages";

/** The host's Debian archive URIs, from its apt sources (deb822 or one-line format). */
export function hostMirrors(): { debian: string; security: string } {
  const candidates = ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"];
  let debian: string | undefined;
  let security: string | undefined;
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    for (const match of readFileSync(file, "utf8").matchAll(
      /(?:URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(\S+)/gm,
    )) {
      const uri = match[1]!.replace(/\/$/, "");
      if (uri.endsWith("-security")) security ??= uri;
      else debian ??= uri;
    }
  }
  if (!debian) throw new Error("cannot find the host's Debian mirror in its apt sources");
  return { debian, security: security ?? `${debian}-security` };
}

/** deb822 sources for a Debian release through the host's mirror, without debian-debug. */
export function sandboxSources(release: string): string {
  const { debian, security } = hostMirrors();
  const keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
  const suites = release === "sid" || release === "unstable" ? release : `${release} ${release}-updates`;
  let text = `Types: deb\nURIs: ${debian}\nSuites: ${suites}\nComponents: main\nSigned-By: ${keyring}\n`;
  if (release !== "sid" && release !== "unstable")
    text += `\nTypes: deb\nURIs: ${security}\nSuites: ${release}-security\nComponents: main\nSigned-By: ${keyring}\n`;
  return text;
}

export interface TreeSpec {
  /** Files relative to the config directory; a value starting with "#!" is written executable. */
  files: Record<string, string>;
  release?: string;
}

export async function makeTree(spec: TreeSpec, dir?: string): Promise<string> {
  const root = dir ?? (await mkdtemp(join(tmpdir(), "mkosi-pipeline-")));
  const files: Record<string, string> = {
    "mkosi.sandbox/etc/apt/sources.list.d/mkosi.sources": sandboxSources(spec.release ?? "bookworm"),
    ...spec.files,
  };
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
    if (content.startsWith("#!")) await chmod(full, 0o755);
  }
  return root;
}

export interface MkosiRun {
  code: number;
  stdout: string;
  stderr: string;
  events: EngineEvent[];
  /** Node ids that ran (started), in order. */
  ran: string[];
  cached: string[];
}

export interface RunOptions {
  cwd: string;
  env?: Record<string, string>;
  /** Text piped to stdin (else stdin is /dev/null). */
  input?: string;
  /** Run as this user (through setpriv), with only PATH and `env` in the environment. */
  asUser?: { uid: number; gid: number };
  /** bin/mkosi of another checkout (default: this one). */
  mkosi?: string;
}

/** Runs bin/mkosi and collects its output and, with --json, its events. */
export function runMkosi(args: string[], options: RunOptions): Promise<MkosiRun> {
  const mkosi = options.mkosi ?? MKOSI;
  const user = options.asUser;
  const [file, argv] = user
    ? ["setpriv", [`--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", mkosi, ...args]]
    : [mkosi, args];
  const base = user ? { PATH: process.env.PATH ?? "/usr/bin:/bin" } : process.env;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, argv, {
      cwd: options.cwd,
      env: { ...base, ...options.env, SOURCE_DATE_EPOCH: options.env?.SOURCE_DATE_EPOCH ?? "" },
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    if (options.input !== undefined) {
      child.stdin!.on("error", () => undefined); // nothing may read it
      child.stdin!.end(options.input);
    }
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const events: EngineEvent[] = [];
      for (const line of stdout.split("\n")) {
        const text = line.replace(/^\x1e/, "").trim();
        if (!text.startsWith("{")) continue;
        try {
          events.push(JSON.parse(text) as EngineEvent);
        } catch {
          // not an event line
        }
      }
      resolvePromise({
        code: code ?? -1,
        stdout,
        stderr,
        events,
        ran: events.filter((e) => e.type === "started").map((e) => (e as { id: string }).id),
        cached: events.filter((e) => e.type === "cached").map((e) => (e as { id: string }).id),
      });
    });
  });
}
