// `mkosi genkey`: a self-signed RSA key and certificate (mkosi.key, mkosi.crt in the configuration
// directory), which the default paths of SecureBootKey=, VerityKey=, SignExpectedPcrKey=, SshKey= and
// their certificates pick up. Never overwrites existing keys unless forced.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import { RuntimeError } from "./host.js";
import { requireTool } from "./tools.js";

export interface GenkeyRequest {
  directory: string;
  /** --genkey-valid-days */
  validDays: string;
  /** --genkey-common-name ("" for the default "mkosi of <user>") */
  commonName: string;
  force: number;
}

/** The certificate's subject as openssl -subj wants it, with its special characters escaped. */
export function subject(commonName: string): string {
  return `/CN=${commonName.replace(/[\\/]/g, (c) => `\\${c}`)}/`;
}

export async function genkey(request: GenkeyRequest): Promise<number> {
  const key = join(request.directory, "mkosi.key");
  const crt = join(request.directory, "mkosi.crt");
  const days = Number(request.validDays);
  if (!Number.isInteger(days) || days <= 0)
    throw new RuntimeError(`--genkey-valid-days=${request.validDays} is not a positive number of days`);
  for (const path of [key, crt]) {
    if (!existsSync(path)) continue;
    if (request.force === 0)
      throw new RuntimeError(
        `${path} already exists (to generate new keys, remove mkosi.key and mkosi.crt first, or use --force)`,
      );
    await rm(path, { force: true });
  }
  const user = process.env.SUDO_USER || userInfo().username;
  const commonName = request.commonName || `mkosi of ${user}`;
  const openssl = requireTool("openssl");
  const expires = new Date(Date.now() + days * 86_400_000);
  process.stderr.write(
    `‣ Generating keys rsa:2048 for CN ${commonName}. The keys will expire in ${days} days (${expires.toDateString()}): roll them over before then.\n`,
  );
  const result = spawnSync(
    openssl,
    [
      "req",
      "-new",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-keyout",
      key,
      "-out",
      crt,
      "-days",
      String(days),
      "-subj",
      subject(commonName),
      "-nodes",
    ],
    { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] },
  );
  if (result.status !== 0) throw new RuntimeError(`openssl failed: ${result.stderr.trim()}`);
  process.stderr.write(`‣ Wrote ${key} and ${crt}\n`);
  return 0;
}
