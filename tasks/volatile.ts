// Files that installing packages leaves behind and that differ from one run to the next with the same
// inputs: per-machine state (mkosi removes it after installing; every machine booting the image makes its
// own) and logs and caches that record when they were written. They are dropped from every layer that
// installs packages, so that the same inputs give the same layer: a rerun with unchanged packages then
// leaves every step above it cached (early cutoff), and `--check` finds these layers deterministic.
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Per-machine state, as mkosi removes it after installing packages. */
export const MACHINE_STATE = [
  "var/lib/systemd/random-seed",
  "var/lib/systemd/credential.secret",
  "etc/machine-info",
  "var/lib/dbus/machine-id",
];

/** Logs and caches with times in them (apt and dpkg, ldconfig). Not kept in images: they would record when
 * the image was built, not what it is. */
export const TIMESTAMPED = [
  "var/log/dpkg.log",
  "var/log/alternatives.log",
  "var/log/apt/history.log",
  "var/log/apt/term.log",
  "var/log/apt/eipp.log.xz",
  "var/cache/ldconfig/aux-cache",
];

/** Package scripts may replace the "uninitialized" machine id with a random one (systemd's postinst runs
 * systemd-machine-id-setup): put back MachineId= or "uninitialized", when the file exists. */
export async function resetMachineId(root: string, machineId: string | null): Promise<void> {
  const file = join(root, "etc/machine-id");
  if (!(await exists(file))) return;
  await writeFile(file, machineId ? `${machineId.replace(/-/g, "")}\n` : "uninitialized\n");
}

/** Drop the per-machine state and timestamped files from an image root. */
export async function removeVolatileFiles(root: string): Promise<void> {
  await Promise.all([...MACHINE_STATE, ...TIMESTAMPED].map((path) => rm(join(root, path), { force: true })));
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

/**
 * What mkosi does right after installing the base system, before Packages=: /etc/machine-id is
 * MachineId= or "uninitialized" (so that package scripts do not generate a random one, and systemd makes one
 * on first boot), and /efi, /boot and /boot/loader/entries.srel ("type1") exist, so that an ESP is mounted
 * at /efi and kernel-install uses the boot loader specification layout.
 */
export async function prepareBaseSystem(root: string, machineId: string | null): Promise<void> {
  const etc = join(root, "etc");
  if (machineId) {
    await mkdir(etc, { recursive: true, mode: 0o755 });
    await writeFile(join(etc, "machine-id"), `${machineId.replace(/-/g, "")}\n`, { mode: 0o444 });
  } else if ((await exists(etc)) && !(await exists(join(etc, "machine-id")))) {
    await writeFile(join(etc, "machine-id"), "uninitialized\n", { mode: 0o444 });
  }
  await mkdir(join(root, "efi"), { recursive: true, mode: 0o500 });
  await mkdir(join(root, "boot"), { recursive: true, mode: 0o500 });
  await mkdir(join(root, "boot/loader"), { recursive: true, mode: 0o700 });
  if (!(await exists(join(root, "boot/loader/entries.srel"))))
    await writeFile(join(root, "boot/loader/entries.srel"), "type1\n", { mode: 0o600 });
}
