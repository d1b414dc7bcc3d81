import { mkdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageTypeOf } from "../../distros/index.js";
import { CommandError } from "../../engine/command.js";
import { checksumLine, sha256File, writeChecksums } from "../../formats/checksum.js";
import {
  changelogReport,
  type ManifestInput,
  manifestObject,
  pythonJson,
  writeManifests,
} from "../../formats/manifest.js";
import { copyNspawnSettings } from "../../formats/nspawn.js";
import { gpgSignCommand, signChecksums, signFile, wantsSignature } from "../../formats/sign.js";
import { sh, tempDir } from "./helpers.js";

let base: string;

beforeAll(async () => {
  base = await tempDir();
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe("SHA256SUMS", () => {
  it("lists every staged file in sha256sum binary format, verifiable with sha256sum -c", async () => {
    const staging = join(base, "sums");
    await mkdir(join(staging, "image.repart.d"), { recursive: true });
    await writeFile(join(staging, "image.tar.zst"), "archive bytes");
    await writeFile(join(staging, "image.nspawn"), "[Exec]\nBoot=yes\n");
    await writeFile(join(staging, "image.efi"), Buffer.alloc(1000, 1));
    await writeFile(join(staging, "image ☃.vmlinuz"), "kernel");
    const r = await writeChecksums(staging, "image.SHA256SUMS");
    // byte order: " " sorts before "."
    expect(r.listed).toEqual(["image ☃.vmlinuz", "image.efi", "image.nspawn", "image.tar.zst"]);
    expect(r.skipped).toEqual(["image.repart.d"]);
    const text = await readFile(join(staging, "image.SHA256SUMS"), "utf8");
    expect(text.split("\n")[1]).toMatch(/^[0-9a-f]{64} \*image\.efi$/);
    expect(text.endsWith("\n")).toBe(true);
    expect(sh("sha256sum -c image.SHA256SUMS", { cwd: staging })).toContain("image.tar.zst: OK");
    expect(await sha256File(join(staging, "image.tar.zst"))).toBe(
      sh(`sha256sum ${join(staging, "image.tar.zst")}`).split(" ")[0],
    );
    expect(checksumLine("ab", "x")).toBe("ab *x\n");
    // a rerun does not list the checksum file itself
    const again = await writeChecksums(staging, "image.SHA256SUMS");
    expect(again.listed).not.toContain("image.SHA256SUMS");
  });
});

describe("signature", () => {
  let gnupg: string;
  let staging: string;
  let fingerprint: string;
  beforeAll(async () => {
    gnupg = join(base, "gnupg");
    await mkdir(gnupg, { mode: 0o700 });
    const env = { ...process.env, GNUPGHOME: gnupg };
    sh(
      "gpg --batch --pinentry-mode loopback --passphrase '' --quick-gen-key 'Test Signer <t@example.com>' ed25519 sign never",
      {
        env,
      },
    );
    fingerprint = sh("gpg --batch --with-colons --list-secret-keys", { env })
      .split("\n")
      .find((l) => l.startsWith("fpr:"))!
      .split(":")[9]!;
    staging = join(base, "signing");
    await mkdir(staging);
    await writeFile(join(staging, "image.raw"), "disk");
    await writeChecksums(staging, "image.SHA256SUMS");
  });
  afterAll(() => {
    sh("gpgconf --kill gpg-agent", { env: { ...process.env, GNUPGHOME: gnupg } });
  });

  it("builds upstream's gpg command line", () => {
    expect(gpgSignCommand("/s/SUMS", "/s/SUMS.gpg", "KEY")).toEqual([
      "gpg",
      "--detach-sign",
      "--pinentry-mode",
      "loopback",
      "--default-key",
      "KEY",
      "--output",
      "/s/SUMS.gpg",
      "/s/SUMS",
    ]);
    expect(gpgSignCommand("a", "b")).not.toContain("--default-key");
    expect(wantsSignature({ Sign: true, Checksum: true })).toBe(true);
    expect(wantsSignature({ Sign: true, Checksum: false })).toBe(false);
    expect(wantsSignature({ Sign: false, Checksum: true })).toBe(false);
  });

  it("signs SHA256SUMS with Key= and the signature verifies with gpg", async () => {
    const names = { checksum: "image.SHA256SUMS", signature: "image.SHA256SUMS.gpg" };
    const sig = await signChecksums(
      staging,
      names,
      { Sign: true, Checksum: true, Key: fingerprint, OpenPGPTool: "gpg", Environment: { GNUPGHOME: gnupg } },
      {},
    );
    expect(sig).toBe("image.SHA256SUMS.gpg");
    const out = sh(`gpg --batch --status-fd 1 --verify image.SHA256SUMS.gpg image.SHA256SUMS 2>&1`, {
      cwd: staging,
      env: { ...process.env, GNUPGHOME: gnupg },
    });
    expect(out).toContain(`VALIDSIG ${fingerprint}`);
    // tampering breaks it
    await writeFile(
      join(staging, "tampered"),
      `${await readFile(join(staging, "image.SHA256SUMS"), "utf8")}x`,
    );
    expect(() =>
      sh("gpg --batch --verify image.SHA256SUMS.gpg tampered", {
        cwd: staging,
        env: { ...process.env, GNUPGHOME: gnupg },
      }),
    ).toThrow();
  });

  it("does nothing without Sign= or Checksum=", async () => {
    const names = { checksum: "image.SHA256SUMS", signature: "unsigned.gpg" };
    expect(await signChecksums(staging, names, { Sign: false, Checksum: true })).toBeUndefined();
    expect(await signChecksums(staging, names, { Sign: true, Checksum: false })).toBeUndefined();
    await expect(stat(join(staging, "unsigned.gpg"))).rejects.toThrow();
  });

  it("fails clearly for a missing GnuPG home, an unknown key, and SOP without a key", async () => {
    const sums = join(staging, "image.SHA256SUMS");
    await expect(
      signFile(sums, join(staging, "x.gpg"), { gnupgHome: join(base, "no-such-home") }),
    ).rejects.toThrow(/GPG home .*no-such-home not found/);
    // a keyring without secret keys: gpg fails, its message is reported, no signature is left behind
    const empty = join(base, "empty-gnupg");
    await mkdir(empty, { mode: 0o700 });
    await expect(
      signFile(sums, join(staging, "y.gpg"), {
        gnupgHome: empty,
        key: "nobody@nowhere.invalid",
        killAgent: true,
      }),
    ).rejects.toThrow(CommandError);
    await expect(stat(join(staging, "y.gpg"))).rejects.toThrow();
    await expect(signFile(sums, join(staging, "z.gpg"), { tool: "sqop" })).rejects.toThrow(
      "Signing key is mandatory when using SOP signing",
    );
  });

  it("runs a SOP tool as `<tool> sign <key>` with the sums on stdin", async () => {
    // a fake SOP implementation recording its arguments and echoing a marker
    const tool = join(base, "fake-sop");
    await writeFile(tool, '#!/bin/sh\necho "args: $*"\necho "-----BEGIN PGP SIGNATURE-----"\ncat\n', {
      mode: 0o755,
    });
    const keyFile = join(base, "key.pgp");
    await writeFile(keyFile, "KEY");
    const sig = join(staging, "sop.gpg");
    await signFile(join(staging, "image.SHA256SUMS"), sig, { tool, key: keyFile });
    const text = await readFile(sig, "utf8");
    expect(text.split("\n")[0]).toBe(`args: sign ${keyFile}`);
    expect(text).toContain("*image.raw");
  });
});

describe("manifest", () => {
  const input: ManifestInput = {
    config: {
      Format: "disk",
      ImageId: "os",
      ImageVersion: "1.0",
      Distribution: "debian",
      Release: "bookworm",
      Architecture: "x86-64",
      ManifestFormat: ["json", "changelog"],
    },
    packageType: "deb",
    packages: [
      { name: "zlib1g", version: "1:1.2.13", architecture: "amd64", size: 164 * 1024, source: "zlib" },
      { name: "bash", version: "5.2.15-2+b2", architecture: "amd64", size: 7000 * 1024 },
      { name: "libc6", version: "2.36-9", architecture: "amd64", size: 12000 * 1024, source: "glibc" },
      { name: "libc-bin", version: "2.36-9", architecture: "amd64", size: 2000 * 1024, source: "glibc" },
      { name: "naïve", version: "1", architecture: "all", size: 0 },
    ],
    changelogs: { glibc: "glibc (2.36-9) bookworm; urgency=medium\n\n  * fix\n" },
  };

  it("has upstream's JSON shape", () => {
    const m = manifestObject(input);
    expect(Object.keys(m)).toEqual(["manifest_version", "config", "packages", "extension"]);
    expect(m.manifest_version).toBe(1);
    expect(m.config).toEqual({
      name: "os",
      distribution: "debian",
      architecture: "x86-64",
      output_format: "disk",
      version: "1.0",
      release: "bookworm",
    });
    expect(Object.keys(m.config as object)).toEqual([
      "name",
      "distribution",
      "architecture",
      "output_format",
      "version",
      "release",
    ]);
    const pkgs = m.packages as Record<string, unknown>[];
    expect(pkgs.map((p) => p.name)).toEqual(["bash", "libc-bin", "libc6", "naïve", "zlib1g"]);
    expect(pkgs[0]).toEqual({
      type: "deb",
      name: "bash",
      version: "5.2.15-2+b2",
      architecture: "amd64",
      size: 7168000,
    });
    expect(Object.keys(pkgs[0]!)).toEqual(["type", "name", "version", "architecture", "size"]);
    expect(m.extension).toEqual({});
    const noVersion = manifestObject({
      ...input,
      config: { Format: "tar", Distribution: "fedora" },
      packageType: packageTypeOf("fedora"),
    });
    expect(noVersion.config).toEqual({
      name: "image",
      distribution: "fedora",
      architecture: null,
      output_format: "tar",
    });
    expect((noVersion.packages as { type: string }[])[0]!.type).toBe("rpm");
    expect(packageTypeOf("arch")).toBe("pkg");
    expect(packageTypeOf("ubuntu")).toBe("deb");
    expect(packageTypeOf("opensuse")).toBe("rpm");
    expect(packageTypeOf("custom")).toBe("none");
  });

  it("serializes like Python's json.dump(indent=2): ASCII escapes, no final newline", () => {
    expect(pythonJson({ a: "naïve ☃ 😀", b: [], c: {}, d: [1, { e: null }] })).toBe(
      '{\n  "a": "na\\u00efve \\u2603 \\ud83d\\ude00",\n  "b": [],\n  "c": {},\n  "d": [\n    1,\n    {\n      "e": null\n    }\n  ]\n}',
    );
    expect(JSON.parse(pythonJson({ a: "naïve\u007f" })).a).toBe("naïve\u007f");
  });

  it("writes the changelog report in upstream's layout", () => {
    const text = changelogReport(input);
    const sep = "-".repeat(80);
    expect(text.startsWith(`Packages: 5\nSize:     ${(164 + 7000 + 12000 + 2000) * 1024}\n${sep}\n`)).toBe(
      true,
    );
    expect(text).toContain(
      `${sep}\nSourcePackage: glibc\nPackages:      libc-bin libc6\nSize:          ${14000 * 1024}\n\nChangelog:\nglibc (2.36-9) bookworm; urgency=medium\n\n  * fix\n`,
    );
    expect(text).toContain(
      `${sep}\nSourcePackage: bash\nPackages:      bash\nSize:          ${7000 * 1024}\n`,
    );
    // source packages in order of first appearance among the sorted binaries
    const order = [...text.matchAll(/SourcePackage: (\S+)/g)].map((m) => m[1]);
    expect(order).toEqual(["bash", "glibc", "naïve", "zlib"]);
    const viaFn = changelogReport({ ...input, changelogs: (src, bin) => `${src} via ${bin}` });
    expect(viaFn).toContain("Changelog:\nzlib via zlib1g\n");
  });

  it("writes the requested files, nothing without data or ManifestFormat=", async () => {
    const staging = join(base, "manifests");
    await mkdir(staging);
    const names = { manifest: "os_1.0.manifest", changelog: "os_1.0.changelog" };
    expect(await writeManifests(staging, names, input)).toEqual(["os_1.0.manifest", "os_1.0.changelog"]);
    const parsed = JSON.parse(await readFile(join(staging, "os_1.0.manifest"), "utf8"));
    expect(parsed.packages).toHaveLength(5);
    expect(
      await writeManifests(
        staging,
        { manifest: "a", changelog: "b" },
        { ...input, config: { ...input.config, ManifestFormat: [] } },
      ),
    ).toEqual([]);
    expect(
      await writeManifests(staging, { manifest: "c", changelog: "d" }, { ...input, packages: [] }),
    ).toEqual([]);
    expect(
      await writeManifests(
        staging,
        { manifest: "e", changelog: "f" },
        {
          ...input,
          packages: [],
          extension: { ID: "_any" },
          config: { ...input.config, ManifestFormat: ["json"] },
        },
      ),
    ).toEqual(["e"]);
  });
});

describe("nspawn settings", () => {
  it("copies NSpawnSettings= to <Output>.nspawn, and nothing when unset", async () => {
    const staging = join(base, "nspawn");
    await mkdir(staging);
    const settings = join(base, "mkosi.nspawn");
    await writeFile(settings, "[Exec]\nBoot=yes\n[Network]\nVirtualEthernet=no\n");
    expect(await copyNspawnSettings(settings, staging, "os.nspawn")).toBe("os.nspawn");
    expect(await readFile(join(staging, "os.nspawn"), "utf8")).toBe(
      "[Exec]\nBoot=yes\n[Network]\nVirtualEthernet=no\n",
    );
    expect(await copyNspawnSettings(null, staging, "x.nspawn")).toBeUndefined();
    await expect(copyNspawnSettings(join(base, "missing.nspawn"), staging, "y.nspawn")).rejects.toThrow(
      /NSpawnSettings=.*not found/,
    );
    await symlink(settings, join(base, "link.nspawn"));
    expect(await copyNspawnSettings(join(base, "link.nspawn"), staging, "z.nspawn")).toBe("z.nspawn");
    expect((await stat(join(staging, "z.nspawn"))).isFile()).toBe(true);
  });
});
