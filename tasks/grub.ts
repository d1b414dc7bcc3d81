// grub as the EFI boot loader (Bootloader=grub): a grub EFI binary made by grub-mkimage from the image's
// own modules (Debian: grub-efi-amd64-bin) at EFI/BOOT/BOOT<ARCH>.EFI, the modules beside it for insmod,
// and a grub.cfg in the ESP's grub/ directory with one entry per kernel: chainloading its UKI, or (UKIs
// off) loading its kernel and initrds. A small EFI/<distribution>/grub.cfg loads that one, for signed grub
// builds that look for their configuration there.
import { copyFile, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TaskContext } from "../engine/api.js";
import type { BindMount, ToolsTreeMount } from "../sandbox/run.js";
import { runTool } from "./toolrun.js";

/** grub's name for the EFI platform of an architecture (its module directory below /usr/lib/grub). */
const GRUB_EFI_PLATFORM: Record<string, string> = {
  "x86-64": "x86_64-efi",
  x86: "i386-efi",
  arm64: "arm64-efi",
  arm: "arm-efi",
  riscv64: "riscv64-efi",
};

/** Modules built into the EFI binary: enough to find the ESP, read its grub.cfg and boot from it. */
const EMBEDDED_MODULES = [
  "normal",
  "configfile",
  "search",
  "search_fs_file",
  "part_gpt",
  "part_msdos",
  "fat",
  "chain",
  "linux",
  "echo",
  "test",
  "efi_gop",
  "all_video",
  "boot",
];

/** Where the ESP's grub configuration lives (relative to the ESP). */
export const GRUB_CONFIG = "grub/grub.cfg";

/** The configuration built into the binary: find the ESP by its grub.cfg and read it. */
const EARLY_CONFIG = `search --no-floppy --set=root --file /${GRUB_CONFIG}
set prefix=($root)/grub
configfile ($root)/${GRUB_CONFIG}
`;

export function grubPlatform(architecture: string): string {
  const platform = GRUB_EFI_PLATFORM[architecture];
  if (!platform) throw new Error(`Bootloader=grub: Architecture=${architecture} has no grub EFI platform`);
  return platform;
}

/**
 * Install grub into `esp` (a directory that becomes the ESP's root) from the modules in `scan` (the
 * image's boot files). `efiBinary` is the path below the ESP (EFI/BOOT/BOOTX64.EFI). Returns false when
 * the image has no grub EFI modules.
 */
export async function installGrubEfi(
  ctx: TaskContext,
  tools: ToolsTreeMount | undefined,
  opts: { scan: string; esp: string; architecture: string; distribution: string; efiBinary: string },
): Promise<boolean> {
  const platform = grubPlatform(opts.architecture);
  const modules = join(opts.scan, "usr/lib/grub", platform);
  const names = await readdir(modules).catch(() => undefined);
  if (!names?.some((n) => n === "normal.mod")) return false;
  const work = join(ctx.tmp, "grub");
  await mkdir(work, { recursive: true });
  await writeFile(join(work, "early.cfg"), EARLY_CONFIG);
  const binary = join(opts.esp, opts.efiBinary);
  await mkdir(join(binary, ".."), { recursive: true });
  const binds: BindMount[] = [
    { src: modules, dst: "/work/modules", readOnly: true },
    { src: work, dst: "/work/grub" },
  ];
  await runTool(
    ctx,
    tools,
    [
      "grub-mkimage",
      `--format=${platform}`,
      "--directory=/work/modules",
      "--prefix=/grub",
      "--config=/work/grub/early.cfg",
      "--output=/work/grub/grub.efi",
      ...EMBEDDED_MODULES,
    ],
    { binds },
  );
  await copyFile(join(work, "grub.efi"), binary);
  // The modules for insmod at boot (prefix=($root)/grub), without the build-only files.
  const target = join(opts.esp, "grub", platform);
  await mkdir(target, { recursive: true });
  for (const name of names.sort())
    if (/\.(mod|lst)$/.test(name)) await copyFile(join(modules, name), join(target, name));
  const shim = join(opts.esp, "EFI", opts.distribution);
  await mkdir(shim, { recursive: true });
  await writeFile(join(shim, "grub.cfg"), EARLY_CONFIG);
  return true;
}

export interface GrubEntry {
  title: string;
  /** A UKI to chainload (path below the ESP)… */
  uki?: string;
  /** …or a kernel and initrds (paths below the ESP) with a command line. */
  linux?: { kernel: string; initrds: string[]; cmdline: string };
}

/** The ESP's grub.cfg: one menu entry per kernel, the first booted after a short timeout. */
export function grubConfig(entries: readonly GrubEntry[]): string {
  const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  const lines = ["set default=0", "set timeout=3", ""];
  for (const entry of entries) {
    lines.push(`menuentry ${quote(entry.title)} {`);
    if (entry.uki) lines.push(`    chainloader /${entry.uki}`);
    else if (entry.linux) {
      lines.push(`    linux /${entry.linux.kernel} ${entry.linux.cmdline}`);
      if (entry.linux.initrds.length > 0)
        lines.push(`    initrd ${entry.linux.initrds.map((i) => `/${i}`).join(" ")}`);
    }
    lines.push("}", "");
  }
  return lines.join("\n");
}
