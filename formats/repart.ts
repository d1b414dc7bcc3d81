// systemd-repart as mkosi uses it: the default partition definitions of a disk image and the command line
// (the JSON it prints is read by repart-json.ts).
//
// The definitions are only generated when the user has none (RepartDirectories=, mkosi.repart/):
//   00-esp.conf   the EFI system partition, when the image is bootable (filled from the image's /boot and
//                 the ESP tree)
//   05-bios.conf  the BIOS boot partition for grub (BiosBootloader=grub)
//   10-root.conf  the root partition, with the distribution's filesystem, holding the whole image
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The GPT type of the BIOS boot partition grub's i386-pc core image is written to. */
export const GRUB_BIOS_BOOT_TYPE = "21686148-6449-6e6f-744e-656564454649";

/** Where the ESP tree is seen in the tree repart copies files from (see `defaultDefinitions`). */
export const ESP_SOURCE = "/efi";

export interface DefaultDefinitionsOptions {
  /** Filesystem of the root partition (the distribution's default: ext4 on Debian). */
  rootFilesystem: string;
  /** Add an ESP (bootable image). */
  esp: boolean;
  /** Add a BIOS boot partition (BiosBootloader=grub); the ESP then gets 1G, as upstream sizes it. */
  biosBoot: boolean;
}

/** mkosi's default partition definitions (file name → content). The root partition copies the whole
 * image but not the ESP tree below /efi (the ESP partition's own content). */
export function defaultDefinitions(opts: DefaultDefinitionsOptions): Record<string, string> {
  const defs: Record<string, string> = {};
  if (opts.esp || opts.biosBoot) {
    const size = opts.biosBoot ? "1G" : "512M";
    defs["00-esp.conf"] = [
      "[Partition]",
      "Type=esp",
      "Format=vfat",
      // As upstream's definition: the image's /boot (kernel-install's and mkosi's files there, e.g.
      // loader/entries.srel), then the ESP tree.
      "CopyFiles=/boot:/",
      `CopyFiles=${ESP_SOURCE}:/`,
      `SizeMinBytes=${size}`,
      `SizeMaxBytes=${size}`,
      "",
    ].join("\n");
  }
  if (opts.biosBoot) {
    defs["05-bios.conf"] = [
      "[Partition]",
      `Type=${GRUB_BIOS_BOOT_TYPE}`,
      "SizeMinBytes=1M",
      "SizeMaxBytes=1M",
      "",
    ].join("\n");
  }
  defs["10-root.conf"] = [
    "[Partition]",
    "Type=root",
    `Format=${opts.rootFilesystem}`,
    "CopyFiles=/",
    `ExcludeFiles=${ESP_SOURCE}/`,
    "Minimize=guess",
    "",
  ].join("\n");
  return defs;
}

/** Format=esp's one partition: the ESP tree, with room to spare (vfat needs at least 32M; 4K sectors
 * need more). */
export function espOnlyDefinition(contentBytes: number, sectorSize: number | null): string {
  const minimum = (sectorSize ?? 512) > 512 ? 260 << 20 : 36 << 20;
  const size = Math.max(Math.ceil(contentBytes * 1.1) + (10 << 20), minimum);
  return [
    "[Partition]",
    "Type=esp",
    "Format=vfat",
    `CopyFiles=${ESP_SOURCE}:/`,
    `SizeMinBytes=${size}`,
    `SizeMaxBytes=${size + 4096}`,
    "",
  ].join("\n");
}

export interface RepartCommandOptions {
  /** Where the image root is in the sandbox. */
  root: string;
  /** Definition directories in the sandbox, in order. */
  definitions: string[];
  /** The disk image to write (in the sandbox). */
  output: string;
  seed: string | null;
  /** Create the image from scratch (first pass) rather than adding to an existing one. */
  empty: "create" | "allow";
  sectorSize?: number | null;
  split?: boolean;
  /** mkosi architecture name when not the host's (repart's --architecture= takes the same names). */
  architecture?: string | null;
  /** A passphrase file for Encrypt= partitions (in the sandbox). */
  keyFile?: string | null;
  /** Verity signing key and certificate (in the sandbox). */
  privateKey?: string | null;
  certificate?: string | null;
  /** Partition names/types to leave unwritten (written by a later pass). */
  deferPartitions?: string[];
  excludePartitions?: string[];
}

/** The systemd-repart command line. */
export function repartCommand(opts: RepartCommandOptions): string[] {
  const argv = [
    "systemd-repart",
    `--empty=${opts.empty}`,
    "--size=auto",
    "--dry-run=no",
    "--json=pretty",
    "--no-pager",
    "--offline=yes",
    `--root=${opts.root}`,
  ];
  if (opts.seed) argv.push(`--seed=${opts.seed}`);
  if (opts.architecture) argv.push(`--architecture=${opts.architecture}`);
  if (opts.sectorSize) argv.push(`--sector-size=${opts.sectorSize}`);
  if (opts.split) argv.push("--split=yes");
  if (opts.keyFile) argv.push(`--key-file=${opts.keyFile}`);
  if (opts.privateKey) argv.push(`--private-key=${opts.privateKey}`);
  if (opts.certificate) argv.push(`--certificate=${opts.certificate}`);
  if (opts.deferPartitions?.length) argv.push(`--defer-partitions=${opts.deferPartitions.join(",")}`);
  if (opts.excludePartitions?.length) argv.push(`--exclude-partitions=${opts.excludePartitions.join(",")}`);
  for (const dir of opts.definitions) argv.push(`--definitions=${dir}`);
  argv.push(opts.output);
  return argv;
}

/** Whether user definitions (RepartDirectories=) make verity partitions: then the root hash goes into
 * the UKIs' command line, and the disk is written in two passes (the ESP after the UKIs). */
export function definitionsUseVerity(dirs: readonly string[]): boolean {
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.endsWith(".conf")) continue;
      const text = (() => {
        try {
          return readFileSync(join(dir, name), "utf8");
        } catch {
          return "";
        }
      })();
      if (/^\s*Verity\s*=\s*(data|hash)\s*$/m.test(text)) return true;
    }
  }
  return false;
}
