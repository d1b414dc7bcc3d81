// Sign=: a detached OpenPGP signature of `<Output>.SHA256SUMS`, written to `<Output>.SHA256SUMS.gpg`.
// Only when both Sign= and Checksum= are on (upstream silently skips otherwise).
//
// OpenPGPTool=gpg (default), as upstream:
//   GNUPGHOME=<home> gpg --detach-sign --pinentry-mode loopback [--default-key <Key>] --output <sig> <sums>
// (a binary signature, not armored: that is what upstream produces). The GnuPG home is $GNUPGHOME from
// the image's Environment=, else ~/.gnupg; a missing home is an error.
// Any other OpenPGPTool= is a Stateless OpenPGP (SOP) implementation:
//   <tool> sign <Key file>   <sums >sig     (armored, the SOP default); Key= is then mandatory.
import { existsSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { runCapture, runPipelineToFile, siblingTempPath } from "./exec.js";
import { FormatError, type OutputConfig, type RunOptions } from "./types.js";

export interface SignOptions extends RunOptions {
  /** OpenPGPTool= (default "gpg"). */
  tool?: string | null;
  /** Key=: a gpg key id/fingerprint/uid, or the key file for SOP tools. */
  key?: string | null;
  /** GnuPG home (default: env.GNUPGHOME, else ~/.gnupg). */
  gnupgHome?: string;
  /** Run `gpgconf --kill gpg-agent` in that home afterwards (upstream does; default false). */
  killAgent?: boolean;
}

/** Whether the config asks for a signature (Sign= and Checksum= both on). */
export function wantsSignature(cfg: Pick<OutputConfig, "Sign" | "Checksum">): boolean {
  return cfg.Sign === true && cfg.Checksum === true;
}

/** The gpg command line that signs `sums` into `signature`. */
export function gpgSignCommand(sums: string, signature: string, key?: string | null): string[] {
  return [
    "gpg",
    "--detach-sign",
    "--pinentry-mode",
    "loopback",
    ...(key ? ["--default-key", key] : []),
    "--output",
    signature,
    sums,
  ];
}

/** Signs the file `sums` into `signature` (atomically) with gpg or a SOP tool. */
export async function signFile(sums: string, signature: string, opts: SignOptions = {}): Promise<void> {
  const tool = opts.tool || "gpg";
  const baseEnv = opts.env ?? process.env;
  if (tool === "gpg") {
    const home = opts.gnupgHome ?? baseEnv.GNUPGHOME ?? join(homedir(), ".gnupg");
    if (!existsSync(home)) throw new FormatError(`GPG home ${home} not found`);
    const env = { ...baseEnv, GNUPGHOME: home };
    const tmp = siblingTempPath(signature);
    try {
      await runCapture(gpgSignCommand(sums, tmp, opts.key), { env, signal: opts.signal });
      await rename(tmp, signature);
    } finally {
      await rm(tmp, { force: true });
      if (opts.killAgent)
        await runCapture(["gpgconf", "--kill", "gpg-agent"], { env }).catch(() => undefined);
    }
    return;
  }
  if (!opts.key) throw new FormatError("Signing key is mandatory when using SOP signing");
  await runPipelineToFile([[tool, "sign", opts.key]], signature, {
    stdinFile: sums,
    env: { ...baseEnv },
    signal: opts.signal,
  });
}

/**
 * Sign= step on a staging directory: signs `<staging>/<checksumName>` into `<staging>/<signatureName>`
 * when the config asks for it. Returns the signature's name, or undefined when not signing.
 */
export async function signChecksums(
  staging: string,
  names: { checksum: string; signature: string },
  cfg: Pick<OutputConfig, "Sign" | "Checksum" | "Key" | "OpenPGPTool" | "Environment">,
  opts: Omit<SignOptions, "tool" | "key"> = {},
): Promise<string | undefined> {
  if (!wantsSignature(cfg)) return undefined;
  const env = { ...(opts.env ?? process.env), ...(cfg.Environment ?? {}) };
  await signFile(join(staging, names.checksum), join(staging, names.signature), {
    ...opts,
    env,
    tool: cfg.OpenPGPTool,
    key: cfg.Key,
  });
  return names.signature;
}
