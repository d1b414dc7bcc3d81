// SecureBoot signing as the boot steps do it: the key and certificate as declared inputs (the key a
// secret: only its keyed digest is kept), bound into the tools sandbox at fixed paths, and sbsign of one
// PE binary on the host's side.
import { rename } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { PathDeclaration, TaskContext } from "../engine/api.js";
import type { BindMount, ToolsTreeMount } from "../sandbox/run.js";
import { runTool } from "./toolrun.js";

export interface SecureBootKeys {
  enabled: boolean;
  key: string | null;
  certificate: string | null;
}

/** SecureBootKey= and SecureBootCertificate= for a step's parameters: only when SecureBoot= is on, so that
 * keys which are not used are no inputs. */
export function secureBootKeyPaths(image: {
  SecureBoot?: unknown;
  SecureBootKey?: unknown;
  SecureBootCertificate?: unknown;
}): { secureBootKey: string | null; secureBootCertificate: string | null } {
  const on = image.SecureBoot === true;
  return {
    secureBootKey: on ? ((image.SecureBootKey as string | null) ?? null) : null,
    secureBootCertificate: on ? ((image.SecureBootCertificate as string | null) ?? null) : null,
  };
}

/** The key (a file path; a key source such as a PKCS#11 URI is not a file) and the certificate, when
 * SecureBoot= is on. */
export function secureBootPaths(keys: SecureBootKeys): PathDeclaration[] {
  if (!keys.enabled) return [];
  const paths: PathDeclaration[] = [];
  if (keys.key?.startsWith("/")) paths.push(["SecureBootKey", { path: keys.key, secret: true }]);
  if (keys.certificate) paths.push(["SecureBootCertificate", { path: keys.certificate }]);
  return paths;
}

/** Where the sandbox sees them. */
export const SECURE_BOOT_KEY = "/work/secureboot.key";
export const SECURE_BOOT_CERTIFICATE = "/work/secureboot.crt";

/** The binds for the key and certificate, or none when not signing. */
export function secureBootBinds(keys: SecureBootKeys): BindMount[] {
  if (!signs(keys)) return [];
  return [
    { src: keys.key!, dst: SECURE_BOOT_KEY, readOnly: true },
    { src: keys.certificate!, dst: SECURE_BOOT_CERTIFICATE, readOnly: true },
  ];
}

export function signs(keys: SecureBootKeys): boolean {
  return keys.enabled && keys.key !== null && keys.certificate !== null;
}

/** sbsign `input` (a host path) into `output` (a host path; may be the input itself). */
export async function sbsignFile(
  ctx: TaskContext,
  tools: ToolsTreeMount | undefined,
  keys: SecureBootKeys,
  input: string,
  output: string,
): Promise<void> {
  const name = basename(output);
  await runTool(
    ctx,
    tools,
    [
      "sbsign",
      `--key=${SECURE_BOOT_KEY}`,
      `--cert=${SECURE_BOOT_CERTIFICATE}`,
      `--output=/work/signed/${name}.signed`,
      "/work/unsigned.efi",
    ],
    {
      binds: [
        ...secureBootBinds(keys),
        { src: input, dst: "/work/unsigned.efi", readOnly: true },
        { src: dirname(output), dst: "/work/signed" },
      ],
    },
  );
  await rename(`${output}.signed`, output);
}
