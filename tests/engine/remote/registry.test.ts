// The registry client against a real registry (Debian's docker-registry): blobs and manifests, the two auth
// schemes (htpasswd Basic, and the token flow with a token server), TLS through certs.d, and failures that
// must read as "unavailable" (registry down, registry silent) or "rejected" (credentials).
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findCredentials } from "../../../engine/remote/credentials.js";
import { parseRemoteLocation } from "../../../engine/remote/location.js";
import { manifestFor, type NodeRecord, parseManifest } from "../../../engine/remote/record.js";
import {
  parseChallenge,
  RegistryClient,
  RemoteRejected,
  RemoteUnavailable,
} from "../../../engine/remote/registry.js";
import { startRegistry, type TestRegistry } from "../../helpers/registry.js";

function client(url: string, env: NodeJS.ProcessEnv, certsDirs: string[] = [], timeoutMs = 10_000) {
  const location = parseRemoteLocation(url);
  return new RegistryClient(location, {
    timeoutMs,
    credentials: () => findCredentials(location.registry, env),
    certsDirs,
  });
}

function digest(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

const KEY = "ab".repeat(32);

/** Upload a blob and a manifest naming it, read both back. */
async function roundTrip(c: RegistryClient): Promise<void> {
  const layer = Buffer.from(`layer ${Math.random()}`);
  const config = Buffer.from(`{"config":${Math.random()}}`);
  expect(await c.uploadBlob(digest(layer), layer.length, layer)).toBe(layer.length);
  expect(await c.uploadBlob(digest(layer), layer.length, layer)).toBe(0); // already there
  await c.uploadBlob(digest(config), config.length, config);
  const record = { key: KEY, output: { nodeId: "n", task: "t", bytes: 1 } } as unknown as NodeRecord;
  const manifest = manifestFor(
    record,
    { digest: digest(config), size: config.length },
    { digest: digest(layer), size: layer.length },
  );
  await c.putManifest(KEY, manifest);
  expect(await c.manifestExists(KEY, "pull")).toBe(true);
  expect(await c.manifestExists("cd".repeat(32), "pull")).toBe(false);
  const got = await c.getManifest(KEY);
  expect(got?.body.equals(manifest)).toBe(true);
  const parsed = parseManifest(got!.body);
  expect(parsed.layers[0].digest).toBe(digest(layer));
  expect((await c.fetchBlob(digest(layer), 1 << 20))?.equals(layer)).toBe(true);
  expect(await c.getManifest("ef".repeat(32))).toBeUndefined();
}

describe("registry client against docker-registry", () => {
  let plain: TestRegistry;
  let basic: TestRegistry;
  let token: TestRegistry;
  let tls: TestRegistry;
  beforeAll(async () => {
    [plain, basic, token, tls] = await Promise.all([
      startRegistry(),
      startRegistry({ basic: { user: "ci", password: "s3cret" } }),
      startRegistry({ token: { user: "ci", password: "t0ken" } }),
      startRegistry({ tls: true }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([plain, basic, token, tls].map((r) => r?.close()));
  });

  it("stores and reads blobs and manifests without auth", async () => {
    const c = client(plain.url(), {});
    try {
      await roundTrip(c);
    } finally {
      c.close();
    }
  });

  it("answers a Basic challenge with credentials from the auth file", async () => {
    const c = client(basic.url(), { REGISTRY_AUTH_FILE: basic.authFile!, HOME: basic.dir });
    try {
      await roundTrip(c);
    } finally {
      c.close();
    }
    const anonymous = client(basic.url(), { HOME: join(basic.dir, "nobody") });
    try {
      await expect(anonymous.getManifest(KEY)).rejects.toThrow(/wants a user name and password/);
    } finally {
      anonymous.close();
    }
    const wrongFile = join(basic.dir, "wrong.json");
    writeFileSync(
      wrongFile,
      JSON.stringify({ auths: { [basic.host]: { auth: Buffer.from("ci:nope").toString("base64") } } }),
    );
    const wrong = client(basic.url(), { REGISTRY_AUTH_FILE: wrongFile, HOME: basic.dir });
    try {
      await expect(wrong.getManifest(KEY)).rejects.toBeInstanceOf(RemoteRejected);
    } finally {
      wrong.close();
    }
  });

  it("gets a token from the token endpoint (registry token flow), also through DOCKER_CONFIG", async () => {
    const dockerConfig = join(token.dir, "docker");
    mkdirSync(dockerConfig, { recursive: true });
    writeFileSync(
      join(dockerConfig, "config.json"),
      JSON.stringify({
        auths: { [`https://${token.host}/v1/`]: { auth: Buffer.from("ci:t0ken").toString("base64") } },
      }),
    );
    const c = client(token.url(), { DOCKER_CONFIG: dockerConfig, HOME: join(token.dir, "nobody") });
    try {
      await roundTrip(c);
    } finally {
      c.close();
    }
    // Anonymous: the token server refuses, the registry says so.
    const anonymous = client(token.url(), { HOME: join(token.dir, "nobody") });
    try {
      await expect(anonymous.getManifest(KEY)).rejects.toThrow(/refused anonymous access/);
    } finally {
      anonymous.close();
    }
  });

  it("trusts a registry's CA from a certs.d directory, and only then", async () => {
    const certs = join(tls.dir, "certs.d");
    mkdirSync(join(certs, tls.host), { recursive: true });
    writeFileSync(join(certs, tls.host, "ca.crt"), (await import("node:fs")).readFileSync(tls.caFile!));
    const c = client(tls.url(), {}, [certs]);
    try {
      await roundTrip(c);
    } finally {
      c.close();
    }
    const untrusted = client(tls.url(), {}, []);
    try {
      await expect(untrusted.getManifest(KEY)).rejects.toBeInstanceOf(RemoteUnavailable);
    } finally {
      untrusted.close();
    }
  });

  it("uses TLS unless the URL says http://", async () => {
    expect(parseRemoteLocation(plain.url()).secure).toBe(false);
    expect(parseRemoteLocation(`${plain.host}/mkosi/cache`).secure).toBe(true);
    const c = client(`${plain.host}/mkosi/cache`, {});
    try {
      // https:// to a plain-HTTP registry: the TLS handshake fails; no silent downgrade.
      await expect(c.getManifest(KEY)).rejects.toBeInstanceOf(RemoteUnavailable);
    } finally {
      c.close();
    }
  });

  it("reports a registry that is down or silent as unavailable", async () => {
    const down = client("http://127.0.0.1:1/mkosi/cache", {});
    try {
      await expect(down.getManifest(KEY)).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      down.close();
    }
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    const port = (silent.address() as net.AddressInfo).port;
    const slow = client(`http://127.0.0.1:${port}/mkosi/cache`, {}, [], 500);
    try {
      await expect(slow.getManifest(KEY)).rejects.toThrow(/no answer .* within 0.5s/);
    } finally {
      slow.close();
      silent.close();
    }
  });
});

describe("registry client pieces", () => {
  it("parses auth challenges", () => {
    expect(
      parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="a:b:pull"'),
    ).toEqual({
      scheme: "bearer",
      params: { realm: "https://auth.example/token", service: "registry.example", scope: "a:b:pull" },
    });
    expect(parseChallenge('Basic realm="x"')).toEqual({ scheme: "basic", params: { realm: "x" } });
  });

  it("parses remote locations", () => {
    expect(parseRemoteLocation("https://ghcr.io/org/mkosi-cache")).toMatchObject({
      secure: true,
      registry: "ghcr.io",
      apiHost: "ghcr.io",
      repository: "org/mkosi-cache",
    });
    expect(parseRemoteLocation("docker.io/cache")).toMatchObject({
      apiHost: "registry-1.docker.io",
      repository: "library/cache",
    });
    expect(() => parseRemoteLocation("ftp://x/y")).toThrow(/unsupported scheme/);
    expect(() => parseRemoteLocation("https://host/Upper")).toThrow(/not a repository name/);
    expect(() => parseRemoteLocation("https://host")).toThrow(/REGISTRY\/REPOSITORY/);
  });
});
