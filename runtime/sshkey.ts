// The OpenSSH public key of an X.509 certificate (SshCertificate=), for the guest's
// ssh.authorized_keys.root credential.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RuntimeError } from "./host.js";
import { requireTool } from "./tools.js";

export function sshPublicKeyOf(certificate: string): string {
  const openssl = requireTool("openssl");
  const keygen = requireTool("ssh-keygen");
  const pem = spawnSync(openssl, ["x509", "-in", certificate, "-noout", "-pubkey"], { encoding: "utf8" });
  if (pem.status !== 0) throw new RuntimeError(`SshCertificate=${certificate}: ${pem.stderr.trim()}`);
  // ssh-keygen reads a file (Node's stdin pipes are sockets, which /dev/stdin cannot open).
  const dir = mkdtempSync(join(tmpdir(), "mkosi-sshkey-"));
  try {
    const file = join(dir, "key.pem");
    writeFileSync(file, pem.stdout);
    const key = spawnSync(keygen, ["-i", "-m", "PKCS8", "-f", file], { encoding: "utf8" });
    if (key.status !== 0) throw new RuntimeError(`SshCertificate=${certificate}: ${key.stderr.trim()}`);
    return key.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
