// The runtime modules' pure parts: missing programs and firmware name their Debian package, HTTP ranges,
// firmware selection, RuntimeTrees= targets, credentials, the KVM decision, dependency profiles.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { nspawnCredentialArgs, qemuCredentialArgs } from "../../runtime/credentials.js";
import { parseProfiles } from "../../runtime/dependencies.js";
import { findOvmf, ovmfCandidates, resolveFirmware } from "../../runtime/firmware.js";
import { decideKvm } from "../../runtime/kvm.js";
import { type Machine, machineOf } from "../../runtime/machine.js";
import { runtimeTreeTarget } from "../../runtime/mounts.js";
import { parseRange } from "../../runtime/serve.js";
import { requireTool } from "../../runtime/tools.js";
import type { ImageView } from "../../tasks/image.js";

function machine(settings: Record<string, unknown>): Machine {
  const image = {
    Image: "main",
    Format: "disk",
    Output: "image",
    OutputExtension: "raw",
    CompressOutput: "none",
    OutputDirectory: "/tmp/out",
    Architecture: "x86-64",
    Firmware: "auto",
    Linux: null,
    SecureBoot: false,
    FirmwareVariables: null,
    Machine: null,
    SplitArtifacts: [],
    ImageVersion: null,
    ...settings,
  } as unknown as ImageView;
  return machineOf(image, "/tmp/config");
}

describe("missing programs", () => {
  const path = process.env.PATH;
  afterEach(() => {
    process.env.PATH = path;
  });

  it("name the Debian package to install", () => {
    process.env.PATH = "/nonexistent";
    expect(() => requireTool("systemd-nspawn")).toThrow(
      "systemd-nspawn is not installed: install the Debian package systemd-container",
    );
    expect(() => requireTool("qemu-system-x86_64")).toThrow("install the Debian package qemu-system-x86");
    expect(() => requireTool("swtpm")).toThrow("install the Debian package swtpm");
  });

  it("OVMF missing names the ovmf package", async () => {
    const empty = await mkdtemp(join(tmpdir(), "mkosi-no-ovmf-"));
    expect(ovmfCandidates("x86-64", empty)).toEqual([]);
    expect(() => findOvmf(machine({}), "uefi", [empty])).toThrow("install the Debian package ovmf");
  });
});

describe("firmware", () => {
  it("auto: direct kernel boot for directories, cpio and Linux=; UEFI (Secure Boot when signed) for disks", () => {
    expect(resolveFirmware(machine({ Format: "directory" }))).toBe("linux");
    expect(resolveFirmware(machine({ Format: "cpio" }))).toBe("linux");
    expect(resolveFirmware(machine({ Linux: "/boot/vmlinuz" }))).toBe("linux");
    expect(resolveFirmware(machine({}))).toBe("uefi");
    expect(resolveFirmware(machine({ SecureBoot: true }))).toBe("uefi-secure-boot");
    expect(resolveFirmware(machine({ Firmware: "bios" }))).toBe("bios");
  });

  it("finds the host's OVMF builds through the qemu firmware descriptors", () => {
    const found = ovmfCandidates("x86-64");
    if (found.length === 0) return; // no ovmf package: covered by the test above
    expect(findOvmf(machine({}), "uefi").secureBoot).toBe(false);
    const secure = findOvmf(machine({}), "uefi-secure-boot");
    expect(secure.secureBoot).toBe(true);
    expect(secure.enrolledKeys).toBe(false);
    expect(findOvmf(machine({ FirmwareVariables: "microsoft" }), "uefi-secure-boot").enrolledKeys).toBe(true);
  });
});

describe("KVM=", () => {
  const unusable = () => ({
    usable: false,
    reason: "System Management Mode not supported by this hypervisor.",
  });
  it("auto falls back when the probe fails, yes fails, no never probes", () => {
    expect(decideKvm("auto", unusable, true)).toBe(false);
    expect(() => decideKvm("enabled", unusable, true)).toThrow("System Management Mode not supported");
    expect(decideKvm("disabled", () => ({ usable: true }), true)).toBe(false);
    expect(decideKvm("auto", () => ({ usable: true }), true)).toBe(true);
    expect(decideKvm("auto", () => ({ usable: true }), false)).toBe(false);
  });
});

describe("serve ranges", () => {
  it("parses single byte ranges like RFC 9110", () => {
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange("bytes=0-9", 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange("bytes=90-", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=-10", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=50-500", 100)).toEqual({ start: 50, end: 99 });
    expect(parseRange("bytes=100-", 100)).toBeNull();
    expect(parseRange("bytes=0-1,5-6", 100)).toBeUndefined();
  });
});

describe("runtime settings", () => {
  it("RuntimeTrees= targets default to /root/src, relative ones below it", () => {
    expect(runtimeTreeTarget(null)).toBe("/root/src");
    expect(runtimeTreeTarget("sub/dir")).toBe("/root/src/sub/dir");
    expect(runtimeTreeTarget("/mnt/x/")).toBe("/mnt/x/");
  });

  it("credentials keep newlines and backslashes", () => {
    const credentials = new Map([["a", "line1\nback\\slash"]]);
    expect(nspawnCredentialArgs(credentials)).toEqual(["--set-credential=a:line1\\nback\\\\slash"]);
    const [, smbios] = qemuCredentialArgs(credentials);
    const encoded = smbios!.split("=").slice(3).join("=");
    expect(smbios).toMatch(/^type=11,value=io\.systemd\.credential\.binary:a=/);
    expect(Buffer.from(encoded, "base64").toString()).toBe("line1\nback\\slash");
  });

  it("dependencies profiles", () => {
    expect(parseProfiles([])).toEqual([]);
    expect(parseProfiles(["--profile", "runtime", "--profile=misc,devel"])).toEqual([
      "runtime",
      "misc",
      "devel",
    ]);
    expect(() => parseProfiles(["--profile", "bogus"])).toThrow("unknown profile bogus");
  });
});

describe("ssh keys", () => {
  it("turns mkosi genkey's certificate into an OpenSSH public key", async () => {
    const { execFileSync } = await import("node:child_process");
    const { sshPublicKeyOf } = await import("../../runtime/sshkey.js");
    const dir = await mkdtemp(join(tmpdir(), "mkosi-sshkey-test-"));
    execFileSync("openssl", [
      "req",
      "-new",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-keyout",
      join(dir, "mkosi.key"),
      "-out",
      join(dir, "mkosi.crt"),
      "-days",
      "1",
      "-subj",
      "/CN=test/",
      "-nodes",
    ]);
    const key = sshPublicKeyOf(join(dir, "mkosi.crt"));
    expect(key).toMatch(/^ssh-rsa AAAA\S+\n$/);
    // The private key's own public half, as ssh-keygen derives it, is the same key.
    const own = execFileSync("ssh-keygen", ["-y", "-f", join(dir, "mkosi.key")], { encoding: "utf8" });
    expect(key.split(" ")[1]?.trim()).toBe(own.split(" ")[1]?.trim());
  });
});

describe("verbs", () => {
  it("every verb of the man page has a handler (help is --help)", async () => {
    const { VERBS } = await import("../../config/enums.js");
    const { isImplemented } = await import("../../cli/verbs/index.js");
    const missing = VERBS.filter((verb) => verb !== "help" && !isImplemented(verb));
    expect(missing).toEqual([]);
  });
});
