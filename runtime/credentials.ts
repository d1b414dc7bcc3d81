// systemd credentials handed to a container or VM: Credentials= plus the defaults a first boot wants
// (locale and time zone, unless configured), and for VMs the root's SSH key from SshCertificate=.
import { hostTimezone, type Machine } from "./machine.js";

export function credentialsOf(machine: Machine, extra: Record<string, string> = {}): Map<string, string> {
  const credentials = new Map<string, string>();
  const { runtime } = machine;
  credentials.set("firstboot.locale", runtime.Locale ?? "C.UTF-8");
  const timezone = runtime.Timezone ?? hostTimezone();
  if (timezone) credentials.set("firstboot.timezone", timezone);
  for (const [name, value] of Object.entries(extra)) credentials.set(name, value);
  for (const [name, value] of Object.entries(runtime.Credentials ?? {})) credentials.set(name, value);
  return credentials;
}

/** nspawn's --set-credential= value: C-style escapes, so newlines and backslashes survive. */
function escapeNspawn(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

export function nspawnCredentialArgs(credentials: Map<string, string>): string[] {
  return [...credentials].map(([name, value]) => `--set-credential=${name}:${escapeNspawn(value)}`);
}

/** qemu: one SMBIOS type 11 string per credential, which systemd (v252+) imports in the guest. */
export function qemuCredentialArgs(credentials: Map<string, string>): string[] {
  return [...credentials].flatMap(([name, value]) => [
    "-smbios",
    `type=11,value=io.systemd.credential.binary:${name}=${Buffer.from(value).toString("base64")}`,
  ]);
}
