// `mkosi genkey`: mkosi.key and mkosi.crt for SecureBoot, verity and ssh.
import { reportRuntimeError } from "../commands/machine.js";
import type { VerbContext } from "./index.js";

export async function handler(ctx: VerbContext): Promise<number> {
  const { genkey } = await import("../../runtime/genkey.js");
  try {
    return await genkey({
      directory: ctx.args.directory ?? process.cwd(),
      validDays: ctx.args.genkeyValidDays,
      commonName: ctx.args.genkeyCommonName,
      force: ctx.args.force,
    });
  } catch (error) {
    return reportRuntimeError(error);
  }
}
