// A client for the OCI distribution API (the registry protocol of Docker Hub, GHCR, Harbor, Zot, and the
// `distribution` registry): manifests by tag, blobs by digest, monolithic blob uploads. node:http(s) only.
//
// Auth the standard way: a request answered 401 carries a challenge; "Basic" gets the credentials from the
// Docker/Podman auth files (credentials.ts), "Bearer" sends them to the token endpoint it names (the
// registry token flow) and retries with the token. TLS by default; CA certificates and client
// certificates from the certs.d directories Docker and Podman read, plus NODE_EXTRA_CA_CERTS.
// Network failures, timeouts and 5xx/429 answers are RemoteUnavailable: the caller stops using the remote.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { rootCertificates } from "node:tls";
import type { Credentials } from "./credentials.js";
import type { RemoteLocation } from "./location.js";

/** The remote cannot be used right now (network error, timeout, server error): degrade, do not fail. */
export class RemoteUnavailable extends Error {
  override name = "RemoteUnavailable";
}
/** The registry refused us (credentials, permissions) or answered nonsense: a configuration problem. */
export class RemoteRejected extends Error {
  override name = "RemoteRejected";
}

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

export type Scope = "pull" | "push";
/** A request body: bytes, or a function that opens a stream (called again when a request is retried). */
export type Body = Buffer | (() => Readable);

export interface RegistryOptions {
  /** A request with no progress for this long fails as RemoteUnavailable. */
  timeoutMs: number;
  credentials: () => Promise<Credentials | undefined>;
  /** Directories searched for <registry>/*.crt, *.cert and *.key (default: Docker's and Podman's). */
  certsDirs?: string[];
}

export function defaultCertsDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME || homedir();
  return [
    join(env.XDG_CONFIG_HOME || join(home, ".config"), "containers/certs.d"),
    "/etc/containers/certs.d",
    "/etc/docker/certs.d",
  ];
}

interface TlsMaterial {
  ca?: (string | Buffer)[];
  cert?: Buffer;
  key?: Buffer;
}

function tlsMaterial(registry: string, dirs: string[]): TlsMaterial {
  const cas: Buffer[] = [];
  let cert: Buffer | undefined;
  let key: Buffer | undefined;
  for (const base of dirs) {
    const dir = join(base, registry);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      if (name.endsWith(".crt")) cas.push(readFileSync(join(dir, name)));
      else if (name.endsWith(".cert") && !cert) {
        const keyFile = join(dir, `${name.slice(0, -5)}.key`);
        if (existsSync(keyFile)) {
          cert = readFileSync(join(dir, name));
          key = readFileSync(keyFile);
        }
      }
    }
  }
  const m: TlsMaterial = {};
  if (cas.length > 0) {
    // Giving `ca` replaces Node's default trust store: keep it, and NODE_EXTRA_CA_CERTS.
    const extra = process.env.NODE_EXTRA_CA_CERTS;
    m.ca = [...rootCertificates, ...(extra && existsSync(extra) ? [readFileSync(extra)] : []), ...cas];
  }
  if (cert && key) {
    m.cert = cert;
    m.key = key;
  }
  return m;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (or Basic). */
export function parseChallenge(header: string | undefined): {
  scheme: string;
  params: Record<string, string>;
} {
  const h = header ?? "";
  const space = h.indexOf(" ");
  const scheme = (space < 0 ? h : h.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  const re = /([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const m of (space < 0 ? "" : h.slice(space + 1)).matchAll(re))
    params[m[1]!.toLowerCase()] = (m[2] ?? m[3] ?? "").replace(/\\(.)/g, "$1");
  return { scheme, params };
}

export async function readBody(res: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res) {
    size += (c as Buffer).length;
    if (size > limit) {
      res.destroy();
      throw new RemoteRejected(`response larger than ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function drain(res: IncomingMessage): void {
  res.resume();
}

/** The registry's error message from an error response body ({"errors":[{code,message}]}). */
async function errorText(res: IncomingMessage): Promise<string> {
  const body = await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
  try {
    const v = JSON.parse(body.toString("utf8")) as { errors?: { code?: string; message?: string }[] };
    const e = v.errors?.[0];
    if (e) return `${res.statusCode} ${e.code ?? ""}${e.message ? `: ${e.message}` : ""}`.trim();
  } catch {
    /* not JSON */
  }
  return `${res.statusCode} ${res.statusMessage ?? ""}`.trim();
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export class RegistryClient {
  private readonly agent: http.Agent;
  private readonly base: string;
  /** Authorization header per scope, once a challenge has been answered. */
  private readonly auth = new Map<Scope, string>();
  private creds: Promise<Credentials | undefined> | undefined;

  constructor(
    readonly location: RemoteLocation,
    private readonly options: RegistryOptions,
  ) {
    this.base = `${location.secure ? "https" : "http"}://${location.apiHost}`;
    this.agent = location.secure
      ? new https.Agent({
          keepAlive: true,
          maxSockets: 8,
          ...tlsMaterial(location.registry, options.certsDirs ?? defaultCertsDirs()),
        })
      : new http.Agent({ keepAlive: true, maxSockets: 8 });
  }

  close(): void {
    this.agent.destroy();
  }

  private repoPath(rest: string): string {
    return `${this.base}/v2/${this.location.repository}/${rest}`;
  }

  /** One HTTP exchange, no auth or redirect handling. */
  private send(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Body | undefined,
    signal: AbortSignal | undefined,
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason ?? new Error("aborted"));
      const mod = url.protocol === "https:" ? https : http;
      const sameHost = url.host === new URL(this.base).host;
      const req = mod.request(url, {
        method,
        headers: { "User-Agent": "mkosi-ts", ...headers },
        agent: sameHost ? this.agent : undefined,
      });
      const onAbort = () => req.destroy(signal?.reason ?? new Error("aborted"));
      signal?.addEventListener("abort", onAbort, { once: true });
      req.setTimeout(this.options.timeoutMs, () =>
        req.destroy(
          new RemoteUnavailable(`no answer from ${url.host} within ${this.options.timeoutMs / 1000}s`),
        ),
      );
      req.on("error", (err) => {
        signal?.removeEventListener("abort", onAbort);
        if (signal?.aborted || err instanceof RemoteUnavailable) return reject(err);
        reject(new RemoteUnavailable(`${url.host}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      });
      req.on("response", (res) => {
        signal?.removeEventListener("abort", onAbort);
        // The timeout keeps watching the response body: a stalled transfer fails too.
        res.on("error", () => undefined);
        resolve(res);
      });
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        const stream = body();
        stream.on("error", (err) => req.destroy(err));
        stream.pipe(req);
      }
    });
  }

  /** A request with auth challenges answered and redirects followed (GET/HEAD). 5xx and 429 are
   * RemoteUnavailable; other statuses are returned to the caller. */
  async request(
    method: string,
    target: string,
    opts: { headers?: Record<string, string>; body?: Body; scope: Scope; signal?: AbortSignal },
  ): Promise<IncomingMessage> {
    let url = new URL(target);
    let authTries = 0;
    for (let hops = 0; hops < 8; hops++) {
      const headers = { ...(opts.headers ?? {}) };
      const sameHost = url.host === new URL(this.base).host;
      const authz = this.auth.get(opts.scope);
      if (authz && sameHost) headers.Authorization = authz;
      const res = await this.send(method, url, headers, opts.body, opts.signal);
      const status = res.statusCode ?? 0;
      if (status === 401 && sameHost && authTries === 0) {
        authTries++;
        drain(res);
        await this.authenticate(res.headers["www-authenticate"], opts.scope, opts.signal);
        continue;
      }
      if (REDIRECTS.has(status) && (method === "GET" || method === "HEAD") && res.headers.location) {
        drain(res);
        url = new URL(res.headers.location, url);
        continue;
      }
      if (status >= 500 || status === 429) {
        const text = await errorText(res);
        throw new RemoteUnavailable(`${this.location.registry}: ${method} ${url.pathname}: ${text}`);
      }
      if (status === 401 || status === 403) {
        const text = await errorText(res);
        throw new RemoteRejected(`${this.location.registry}: access denied (${text})`);
      }
      return res;
    }
    throw new RemoteRejected(`${this.location.registry}: too many redirects`);
  }

  private credentials(): Promise<Credentials | undefined> {
    this.creds ??= this.options.credentials();
    return this.creds;
  }

  private async authenticate(header: string | undefined, scope: Scope, signal?: AbortSignal): Promise<void> {
    const challenge = parseChallenge(header);
    const creds = await this.credentials().catch((err: Error) => {
      throw new RemoteRejected(`credentials for ${this.location.registry}: ${err.message}`);
    });
    if (challenge.scheme === "basic") {
      if (creds?.kind !== "basic")
        throw new RemoteRejected(
          `${this.location.registry} wants a user name and password; none found (log in with podman login or docker login)`,
        );
      const value = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
      this.auth.set("pull", value);
      this.auth.set("push", value);
      return;
    }
    if (challenge.scheme !== "bearer" || !challenge.params.realm)
      throw new RemoteRejected(`${this.location.registry}: unsupported auth challenge "${header ?? ""}"`);
    const { realm, service } = challenge.params;
    const scopeText = `repository:${this.location.repository}:${scope === "push" ? "pull,push" : "pull"}`;
    const url = new URL(realm);
    let res: IncomingMessage;
    if (creds?.kind === "identity-token") {
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: creds.token,
        client_id: "mkosi-ts",
        scope: scopeText,
        ...(service ? { service } : {}),
      });
      res = await this.send(
        "POST",
        url,
        { "Content-Type": "application/x-www-form-urlencoded" },
        Buffer.from(form.toString()),
        signal,
      );
    } else {
      if (service) url.searchParams.set("service", service);
      url.searchParams.set("scope", scopeText);
      const headers: Record<string, string> = {};
      if (creds?.kind === "basic")
        headers.Authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
      res = await this.send("GET", url, headers, undefined, signal);
    }
    const status = res.statusCode ?? 0;
    if (status >= 500 || status === 429)
      throw new RemoteUnavailable(`token endpoint ${url.host}: ${await errorText(res)}`);
    if (status !== 200)
      throw new RemoteRejected(
        `token endpoint ${url.host} refused ${creds ? `the credentials from ${creds.source}` : "anonymous access"} (${await errorText(res)})`,
      );
    let token: string | undefined;
    try {
      const v = JSON.parse((await readBody(res, 1 << 20)).toString("utf8")) as {
        token?: string;
        access_token?: string;
      };
      token = v.token ?? v.access_token;
    } catch {
      /* below */
    }
    if (!token) throw new RemoteRejected(`token endpoint ${url.host} returned no token`);
    this.auth.set(scope, `Bearer ${token}`);
    // A push token also allows pulls.
    if (scope === "push" && !this.auth.has("pull")) this.auth.set("pull", `Bearer ${token}`);
  }

  /** The manifest a tag names, or undefined when there is none. */
  async getManifest(
    tag: string,
    signal?: AbortSignal,
  ): Promise<{ body: Buffer; digest: string; mediaType: string } | undefined> {
    const res = await this.request("GET", this.repoPath(`manifests/${tag}`), {
      headers: { Accept: OCI_MANIFEST },
      scope: "pull",
      signal,
    });
    if (res.statusCode === 404) {
      drain(res);
      return undefined;
    }
    if (res.statusCode !== 200) throw new RemoteRejected(`GET manifest ${tag}: ${await errorText(res)}`);
    const body = await readBody(res, 4 << 20);
    return {
      body,
      digest: `sha256:${createHash("sha256").update(body).digest("hex")}`,
      mediaType: String(res.headers["content-type"] ?? "")
        .split(";")[0]!
        .trim(),
    };
  }

  async manifestExists(tag: string, scope: Scope, signal?: AbortSignal): Promise<boolean> {
    const res = await this.request("HEAD", this.repoPath(`manifests/${tag}`), {
      headers: { Accept: OCI_MANIFEST },
      scope,
      signal,
    });
    drain(res);
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw new RemoteRejected(`HEAD manifest ${tag}: ${res.statusCode}`);
  }

  async putManifest(tag: string, body: Buffer, signal?: AbortSignal): Promise<void> {
    const res = await this.request("PUT", this.repoPath(`manifests/${tag}`), {
      headers: { "Content-Type": OCI_MANIFEST, "Content-Length": String(body.length) },
      body,
      scope: "push",
      signal,
    });
    if (res.statusCode !== 201 && res.statusCode !== 200)
      throw new RemoteRejected(`PUT manifest ${tag}: ${await errorText(res)}`);
    drain(res);
  }

  async blobExists(digest: string, scope: Scope, signal?: AbortSignal): Promise<boolean> {
    const res = await this.request("HEAD", this.repoPath(`blobs/${digest}`), { scope, signal });
    drain(res);
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw new RemoteRejected(`HEAD blob ${digest}: ${res.statusCode}`);
  }

  /** A blob's content as a stream (the caller verifies its digest), or undefined when it is missing. */
  async getBlob(digest: string, signal?: AbortSignal): Promise<IncomingMessage | undefined> {
    const res = await this.request("GET", this.repoPath(`blobs/${digest}`), { scope: "pull", signal });
    if (res.statusCode === 404) {
      drain(res);
      return undefined;
    }
    if (res.statusCode !== 200) throw new RemoteRejected(`GET blob ${digest}: ${await errorText(res)}`);
    return res;
  }

  /** A small blob, verified against its digest; undefined when missing. */
  async fetchBlob(digest: string, limit: number, signal?: AbortSignal): Promise<Buffer | undefined> {
    const res = await this.getBlob(digest, signal);
    if (!res) return undefined;
    const body = await readBody(res, limit);
    const got = `sha256:${createHash("sha256").update(body).digest("hex")}`;
    if (got !== digest) throw new BlobDigestMismatch(digest, got);
    return body;
  }

  /** Uploads a blob unless the registry has it already; returns the bytes sent. */
  async uploadBlob(digest: string, size: number, body: Body, signal?: AbortSignal): Promise<number> {
    if (await this.blobExists(digest, "push", signal)) return 0;
    const start = await this.request("POST", this.repoPath("blobs/uploads/"), {
      headers: { "Content-Length": "0" },
      body: Buffer.alloc(0),
      scope: "push",
      signal,
    });
    if (start.statusCode !== 202 || !start.headers.location)
      throw new RemoteRejected(`starting an upload: ${await errorText(start)}`);
    drain(start);
    const url = new URL(start.headers.location, this.base);
    url.searchParams.set("digest", digest);
    const res = await this.request("PUT", url.toString(), {
      headers: { "Content-Type": "application/octet-stream", "Content-Length": String(size) },
      body,
      scope: "push",
      signal,
    });
    if (res.statusCode !== 201) throw new RemoteRejected(`uploading ${digest}: ${await errorText(res)}`);
    drain(res);
    return size;
  }
}

export class BlobDigestMismatch extends Error {
  override name = "BlobDigestMismatch";
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`blob ${expected} does not match its digest (got ${actual})`);
  }
}
