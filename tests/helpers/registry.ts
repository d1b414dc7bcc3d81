// A real OCI registry for tests: Debian's docker-registry (the `distribution` registry) on a free local
// port, storage in a temporary directory; optionally with htpasswd auth, with token auth (a small token
// server here issues RS256 JWTs the registry verifies against our certificate), or with TLS.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createSign, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REGISTRY_BINARY = "/usr/bin/docker-registry";

export function registryAvailable(): boolean {
  return existsSync(REGISTRY_BINARY);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface RegistryOptions {
  /** htpasswd auth with this user and password. */
  basic?: { user: string; password: string };
  /** Token auth: a token server that accepts this user and password (granting pulls only, if asked). */
  token?: { user: string; password: string; pullOnly?: boolean };
  /** Serve TLS with a certificate for 127.0.0.1 signed by a CA in `ca` (PEM). */
  tls?: boolean;
}

export interface TestRegistry {
  /** host:port */
  host: string;
  /** http(s)://host:port/<repository> */
  url(repository?: string): string;
  storage: string;
  dir: string;
  /** PEM of the CA that signed the TLS certificate (tls only). */
  caFile?: string;
  /** A Docker-style auth file with the credentials (auth modes only). */
  authFile?: string;
  /** Paths of stored blobs (their data files), by digest. */
  blobPath(digest: string): string;
  blobs(): string[];
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: "pipe" });
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

/** A token server for the registry's token auth (the flow GHCR and Docker Hub use). */
function tokenServer(
  dir: string,
  user: string,
  password: string,
  issuer: string,
  service: string,
  pullOnly: boolean,
): Promise<{ server: http.Server; port: number; certFile: string }> {
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "token.key",
      "-out",
      "token.crt",
      "-days",
      "2",
      "-subj",
      "/CN=test token issuer",
    ],
    dir,
  );
  const key = readFileSync(join(dir, "token.key"));
  const certPem = readFileSync(join(dir, "token.crt"), "utf8");
  const der = Buffer.from(certPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const auth = req.headers.authorization ?? "";
    const expected = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    if (url.pathname !== "/token" || auth !== expected) {
      res.writeHead(401, { "Content-Type": "application/json" });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
      return;
    }
    const scope = url.searchParams.get("scope") ?? "";
    const [, name, actions] = scope.split(":");
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "RS256", x5c: [der.toString("base64")] };
    const claims = {
      iss: issuer,
      sub: user,
      aud: url.searchParams.get("service") ?? service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString("hex"),
      access: name
        ? [
            {
              type: "repository",
              name,
              actions: (actions ?? "").split(",").filter((a) => !pullOnly || a === "pull"),
            },
          ]
        : [],
    };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign("RSA-SHA256").update(signing).sign(key);
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ token: `${signing}.${b64url(sig)}`, expires_in: 300 }));
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({ server, port: (server.address() as net.AddressInfo).port, certFile: join(dir, "token.crt") });
    });
  });
}

function tlsMaterial(dir: string): { cert: string; key: string; ca: string } {
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "2",
    ].concat(["-subj", "/CN=test registry CA"]),
    dir,
  );
  openssl(
    ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr"].concat([
      "-subj",
      "/CN=127.0.0.1",
    ]),
    dir,
  );
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
  openssl(
    ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"].concat([
      "-out",
      "server.crt",
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
    ]),
    dir,
  );
  return { cert: join(dir, "server.crt"), key: join(dir, "server.key"), ca: join(dir, "ca.crt") };
}

async function waitReady(url: string, child: ChildProcess, log: () => string, ca?: Buffer): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const mod = url.startsWith("https:") ? https : http;
      const req = mod.get(`${url}/v2/`, { ca }, (res) => {
        res.resume();
        resolve(res.statusCode === 200 || res.statusCode === 401);
      });
      req.on("error", () => resolve(false));
      req.setTimeout(1000, () => req.destroy());
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not come up: ${log()}`);
}

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "mkosi-registry-"));
  const storage = join(dir, "storage");
  mkdirSync(storage);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const lines = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${storage}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: ${host}`,
    "  secret: mkosi-ts-test-secret",
  ];
  let caFile: string | undefined;
  if (options.tls) {
    const t = tlsMaterial(dir);
    caFile = t.ca;
    lines.push("  tls:", `    certificate: ${t.cert}`, `    key: ${t.key}`);
  }
  let token: { server: http.Server } | undefined;
  let authFile: string | undefined;
  const creds = options.basic ?? options.token;
  if (options.basic) {
    const htpasswd = join(dir, "htpasswd");
    execFileSync("htpasswd", ["-Bbc", htpasswd, options.basic.user, options.basic.password], {
      stdio: "pipe",
    });
    lines.push("auth:", "  htpasswd:", "    realm: test-realm", `    path: ${htpasswd}`);
  } else if (options.token) {
    const t = await tokenServer(
      dir,
      options.token.user,
      options.token.password,
      "test-issuer",
      "test-registry",
      options.token.pullOnly ?? false,
    );
    token = t;
    lines.push(
      "auth:",
      "  token:",
      `    realm: http://127.0.0.1:${t.port}/token`,
      "    service: test-registry",
      "    issuer: test-issuer",
      `    rootcertbundle: ${t.certFile}`,
    );
  }
  if (creds) {
    authFile = join(dir, "auth.json");
    const auth = Buffer.from(`${creds.user}:${creds.password}`).toString("base64");
    writeFileSync(authFile, JSON.stringify({ auths: { [host]: { auth } } }));
  }
  const config = join(dir, "config.yml");
  writeFileSync(config, `${lines.join("\n")}\n`);
  const scheme = options.tls ? "https" : "http";
  let child: ChildProcess | undefined;
  let output = "";
  const start = async () => {
    output = "";
    const c = spawn(REGISTRY_BINARY, ["serve", config], { stdio: ["ignore", "pipe", "pipe"] });
    c.stdout!.on("data", (d: Buffer) => {
      output += d.toString();
    });
    c.stderr!.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child = c;
    await waitReady(`${scheme}://${host}`, c, () => output, caFile ? readFileSync(caFile) : undefined);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.on("exit", () => resolve());
      c.kill("SIGTERM");
    });
  };
  await start();
  const blobRoot = join(storage, "docker/registry/v2/blobs/sha256");
  return {
    host,
    url: (repository = "mkosi/cache") => `${scheme}://${host}/${repository}`,
    storage,
    dir,
    caFile,
    authFile,
    blobPath: (digest) => {
      const hex = digest.replace(/^sha256:/, "");
      return join(blobRoot, hex.slice(0, 2), hex, "data");
    },
    blobs: () => {
      if (!existsSync(blobRoot)) return [];
      const out: string[] = [];
      for (const a of readdirSync(blobRoot))
        for (const b of readdirSync(join(blobRoot, a))) out.push(`sha256:${b}`);
      return out;
    },
    stop,
    start,
    close: async () => {
      await stop();
      token?.server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
