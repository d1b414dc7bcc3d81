// `mkosi genkey`: mkosi.key and mkosi.crt in the configuration directory (see runtime/genkey.ts).
import type { VerbContext } from "./index.js";

export async function handler(ctx: VerbContext): Promise<number> {
  const { GenkeyError, generateKeyPair } = await import("../../runtime/genkey.js");
  const directory = ctx.args.directory;
  if (!directory) {
    process.stderr.write("‣ genkey cannot be used with an empty --directory\n");
    return 1;
  }
  const commonName =
    ctx.args.genkeyCommonName || `mkosi of ${process.env.SUDO_USER ?? process.env.USER ?? "root"}`;
  process.stderr.write(
    `‣ Generating keys rsa:2048 for CN '${commonName}', valid for ${ctx.args.genkeyValidDays} days.\n`,
  );
  try {
    await generateKeyPair({
      directory,
      validDays: ctx.args.genkeyValidDays,
      commonName,
      force: ctx.args.force > 0,
    });
  } catch (err) {
    if (err instanceof GenkeyError) {
      process.stderr.write(`‣ ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  return 0;
}
