// `mkosi genkey`: an RSA key and a self-signed X.509 certificate (mkosi.key, mkosi.crt in the
// configuration directory) for SecureBoot signing, verity signatures and SSH: the files mkosi picks up by
// default for SecureBootKey=/Certificate=, VerityKey=/Certificate= and the rest. Existing files are
// kept unless -f is given. Used by the genkey verb; other verbs may call it too.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

export interface GenkeyOptions {
  /** The configuration directory the files are written to. */
  directory: string;
  validDays: string;
  commonName: string;
  force: boolean;
}

export class GenkeyError extends Error {
  override name = "GenkeyError";
}

/** Writes mkosi.key and mkosi.crt; returns their paths. */
export async function generateKeyPair(opts: GenkeyOptions): Promise<{ key: string; certificate: string }> {
  const key = join(opts.directory, "mkosi.key");
  const certificate = join(opts.directory, "mkosi.crt");
  for (const file of [key, certificate]) {
    if (existsSync(file) && !opts.force)
      throw new GenkeyError(
        `${file} already exists: to generate new keys, first remove mkosi.key and mkosi.crt (or pass -f)`,
      );
  }
  if (!/^\d+$/.test(opts.validDays))
    throw new GenkeyError(`--genkey-valid-days=${opts.validDays} is not a number of days`);
  await promisify(execFile)(
    "openssl",
    [
      "req",
      "-new",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-keyout",
      key,
      "-out",
      certificate,
      "-days",
      opts.validDays,
      "-subj",
      `/CN=${opts.commonName}/`,
      "-nodes",
    ],
    { env: { ...process.env, OPENSSL_CONF: "/dev/null" } },
  );
  return { key, certificate };
}
