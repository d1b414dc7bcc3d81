// --cache-remote, --cache-push, --cache-secret-key and their environment variables.
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseArgs } from "../../cli/args.js";
import { remoteOption, secretKeyOption } from "../../cli/commands/remote.js";

const none = { cacheRemote: null, cachePush: false, cacheSecretKey: null };

describe("remote cache options", () => {
  test("parsed before the verb, outside the settings", () => {
    const { args } = parseArgs(["--cache-remote", "https://ghcr.io/org/c", "--cache-push", "build"]);
    expect(args).toMatchObject({ verb: "build", cacheRemote: "https://ghcr.io/org/c", cachePush: true });
    expect(args.assignments).toEqual([]);
  });

  test("from the command line or the environment; push needs a remote", () => {
    expect(remoteOption(none, {})).toBeUndefined();
    expect(
      remoteOption(none, { MKOSI_CACHE_REMOTE: "http://localhost:5000/c", MKOSI_CACHE_PUSH: "1" }),
    ).toMatchObject({ url: "http://localhost:5000/c", push: true });
    expect(
      remoteOption({ ...none, cacheRemote: "r.example/c" }, { MKOSI_CACHE_REMOTE_TIMEOUT: "2.5" }),
    ).toMatchObject({
      url: "r.example/c",
      push: false,
      timeoutMs: 2500,
    });
    expect(() => remoteOption({ ...none, cachePush: true }, {})).toThrow(/--cache-push needs a remote cache/);
    expect(() =>
      remoteOption({ ...none, cacheRemote: "r/c" }, { MKOSI_CACHE_REMOTE_TIMEOUT: "soon" }),
    ).toThrow(/expected a number of seconds/);
  });

  test("secret key: hex in the environment, or a file of raw bytes or hex", () => {
    const hex = randomBytes(32).toString("hex");
    expect(secretKeyOption(none, { MKOSI_CACHE_SECRET_KEY: hex })?.toString("hex")).toBe(hex);
    expect(() => secretKeyOption(none, { MKOSI_CACHE_SECRET_KEY: "short" })).toThrow(
      /at least 64 hex digits/,
    );
    const dir = mkdtempSync(join(tmpdir(), "mkosi-key-"));
    const raw = randomBytes(32);
    writeFileSync(join(dir, "secret.key"), raw);
    writeFileSync(join(dir, "hex"), `${hex}\n`);
    expect(secretKeyOption({ ...none, cacheSecretKey: join(dir, "secret.key") }, {})?.equals(raw)).toBe(true);
    expect(secretKeyOption(none, { MKOSI_CACHE_SECRET_KEY_FILE: join(dir, "hex") })?.toString("hex")).toBe(
      hex,
    );
    expect(() => secretKeyOption({ ...none, cacheSecretKey: join(dir, "missing") }, {})).toThrow(/ENOENT/);
    expect(secretKeyOption(none, {})).toBeUndefined();
  });
});
