// Registry credentials, found where Podman and Docker keep them, in their order:
//   $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, $XDG_CONFIG_HOME/containers/auth.json
//   (~/.config/containers/auth.json), then $DOCKER_CONFIG/config.json (~/.docker/config.json).
// In each file: a credential helper for the registry (credHelpers), else its "auths" entry (base64
// user:password, or an identity token), else the file's default helper (credsStore). A helper is the
// docker-credential-<name> program: `get`, the registry on stdin, JSON {Username, Secret} on stdout.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export type Credentials =
  | { kind: "basic"; username: string; password: string; source: string }
  /** An OAuth2 refresh token (Docker's "identitytoken"), exchanged at the token endpoint. */
  | { kind: "identity-token"; token: string; source: string };

export function authFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME || homedir();
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, "containers/auth.json"));
  files.push(join(env.XDG_CONFIG_HOME || join(home, ".config"), "containers/auth.json"));
  files.push(join(env.DOCKER_CONFIG || join(home, ".docker"), "config.json"));
  return files;
}

interface AuthFile {
  auths?: Record<string, { auth?: string; identitytoken?: string } | undefined>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

function readAuthFile(path: string): AuthFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === "object" && v !== null ? (v as AuthFile) : undefined;
  } catch {
    throw new Error(`${path}: not valid JSON`);
  }
}

/** "https://host:port/v1/" and "host:port" name the same registry in auth files. */
function normalizeEntry(name: string): string {
  return name
    .replace(/^[a-z]+:\/\//i, "")
    .replace(/\/.*$/, "")
    .toLowerCase();
}

function entryNames(registry: string): string[] {
  return registry === "docker.io" ? ["docker.io", "index.docker.io", "registry-1.docker.io"] : [registry];
}

function decodeAuth(auth: string, source: string): Credentials {
  const text = Buffer.from(auth, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon < 0) throw new Error(`${source}: "auth" is not base64 of user:password`);
  return { kind: "basic", username: text.slice(0, colon), password: text.slice(colon + 1), source };
}

/** Runs docker-credential-<helper> get. */
export function fromHelper(helper: string, registry: string): Promise<Credentials | undefined> {
  const program = `docker-credential-${helper}`;
  const server = registry === "docker.io" ? "https://index.docker.io/v1/" : registry;
  return new Promise((resolve, reject) => {
    const child = spawn(program, ["get"], { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e) => reject(new Error(`${program}: ${e.message}`)));
    child.on("close", (code) => {
      const text = Buffer.concat(out).toString("utf8").trim();
      if (code !== 0) {
        // Helpers say "credentials not found in native keychain" for an unknown server.
        const msg = `${text} ${Buffer.concat(err).toString("utf8")}`;
        if (/not found/i.test(msg)) return resolve(undefined);
        return reject(new Error(`${program} get: exit status ${code}: ${msg.trim()}`));
      }
      try {
        const v = JSON.parse(text) as { Username?: string; Secret?: string };
        if (typeof v.Secret !== "string") return resolve(undefined);
        if (v.Username === "<token>") resolve({ kind: "identity-token", token: v.Secret, source: program });
        else resolve({ kind: "basic", username: v.Username ?? "", password: v.Secret, source: program });
      } catch {
        reject(new Error(`${program} get: output is not JSON`));
      }
    });
    child.stdin.end(`${server}\n`);
  });
}

/** The credentials for `registry` (host[:port]), or undefined when no file or helper has any. */
export async function findCredentials(
  registry: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Credentials | undefined> {
  const names = entryNames(registry);
  for (const file of authFiles(env)) {
    const conf = readAuthFile(file);
    if (!conf) continue;
    for (const [name, helper] of Object.entries(conf.credHelpers ?? {})) {
      if (names.includes(normalizeEntry(name)) && helper) return fromHelper(helper, registry);
    }
    for (const [name, entry] of Object.entries(conf.auths ?? {})) {
      if (!names.includes(normalizeEntry(name)) || !entry) continue;
      if (entry.identitytoken) return { kind: "identity-token", token: entry.identitytoken, source: file };
      if (entry.auth) return decodeAuth(entry.auth, file);
    }
    if (conf.credsStore) {
      const c = await fromHelper(conf.credsStore, registry);
      if (c) return c;
    }
  }
  return undefined;
}
