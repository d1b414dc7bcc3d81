// The remote cache's command-line options and environment, outside mkosi's settings (so `summary --json`
// stays upstream's):
//   --cache-remote=URL        or MKOSI_CACHE_REMOTE      read from an OCI registry repository
//   --cache-push              or MKOSI_CACHE_PUSH=1      also upload what this build has and it lacks
//   --cache-secret-key=FILE   or MKOSI_CACHE_SECRET_KEY_FILE, or MKOSI_CACHE_SECRET_KEY (hex)
//                             the key of the keyed digests of secrets (RootPassword=, key files): caches that
//                             share nodes with secrets must share it (default: <cache>/secret.key, per cache)
//   MKOSI_CACHE_REMOTE_TIMEOUT  seconds without progress before the registry counts as down (default 20)
import { readFileSync } from "node:fs";
import type { RemoteCacheOptions } from "../../engine/api.js";
import { inUserNamespace } from "../../sandbox/userns.js";

export interface RemoteArgs {
  cacheRemote: string | null;
  cachePush: boolean;
  cacheSecretKey: string | null;
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|yes|true|on)$/i.test(v.trim());
}

/** A key given as text: hex digits (`openssl rand -hex 32`), at least 32 bytes. */
function parseKeyText(text: string, where: string): Buffer {
  const hex = text.trim();
  if (!/^(?:[0-9a-fA-F]{2}){32,}$/.test(hex))
    throw new Error(`${where}: expected at least 64 hex digits (e.g. from openssl rand -hex 32)`);
  return Buffer.from(hex, "hex");
}

/** A key file: raw bytes (a copy of <cache>/secret.key) or hex text. */
function readKeyFile(path: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    throw new Error(
      `--cache-secret-key=${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const text = data.toString("latin1").trim();
  if (/^[0-9a-fA-F]+$/.test(text)) return parseKeyText(text, path);
  if (data.length < 32) throw new Error(`${path}: a secret key needs at least 32 bytes`);
  return data;
}

export function secretKeyOption(args: RemoteArgs, env: NodeJS.ProcessEnv = process.env): Buffer | undefined {
  const file = args.cacheSecretKey ?? env.MKOSI_CACHE_SECRET_KEY_FILE ?? null;
  if (file) return readKeyFile(file);
  if (env.MKOSI_CACHE_SECRET_KEY) return parseKeyText(env.MKOSI_CACHE_SECRET_KEY, "MKOSI_CACHE_SECRET_KEY");
  return undefined;
}

export function remoteOption(
  args: RemoteArgs,
  env: NodeJS.ProcessEnv = process.env,
): RemoteCacheOptions | undefined {
  const url = args.cacheRemote ?? env.MKOSI_CACHE_REMOTE ?? "";
  const push = args.cachePush || truthy(env.MKOSI_CACHE_PUSH);
  if (url === "") {
    if (push) throw new Error("--cache-push needs a remote cache: --cache-remote=URL or MKOSI_CACHE_REMOTE");
    return undefined;
  }
  const options: RemoteCacheOptions = { url, push };
  // Layers built in a user namespace differ from a root build's (owners, user.* overlay xattrs).
  if (inUserNamespace()) options.flavour = "unprivileged";
  const timeout = env.MKOSI_CACHE_REMOTE_TIMEOUT;
  if (timeout !== undefined && timeout !== "") {
    const s = Number(timeout);
    if (!Number.isFinite(s) || s <= 0)
      throw new Error(`MKOSI_CACHE_REMOTE_TIMEOUT=${timeout}: expected a number of seconds`);
    options.timeoutMs = s * 1000;
  }
  return options;
}
