// grub as the EFI boot loader (Bootloader=grub): a grub EFI binary made by grub-mkimage from the image's
// own modules (Debian: grub-efi-amd64-bin) at EFI/BOOT/BOOT<ARCH>.EFI, the modules beside it for insmod,
// and a grub.cfg in the ESP's grub/ directory with one entry per kernel: chainloading its UKI, or (UKIs
// off) loading its kernel and initrds. A small EFI/<distribution>/grub.cfg loads that one, for signed grub
// builds that look for their configuration there.
// grub as the BIOS boot loader (BiosBootloader=grub): a core image for i386-pc made the same way from the
// image's modules (Debian: grub-pc-bin), which grub-bios-setup writes with boot.img into the finished
// disk (MBR and BIOS boot partition); it reads the same grub.cfg, whose entries load kernel and initrds
// (a BIOS cannot run a UKI).
// grub-signed: the distribution's signed EFI binary instead of grub-mkimage's, with the same menu.
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DeclaredInputs, TaskContext } from "../engine/api.js";
import { efiArch } from "../formats/boot.js";
import type { BindMount, ToolsTreeMount } from "../sandbox/run.js";
import { runTool } from "./toolrun.js";
import { type ToolsTree, toolInputs, withToolInputs } from "./toolstree.js";

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
  const made = await makeImage(ctx, tools, opts.scan, opts.esp, platform, "grub.efi", EMBEDDED_MODULES);
  if (!made) return false;
  await placeEfiGrub(made, opts);
  return true;
}

/** The distribution's signed grub EFI binary below the image's root (Debian's grub-efi-<arch>-signed):
 * a monolithic image with its modules built in, which reads EFI/<distribution>/grub.cfg. */
export function signedGrubPath(architecture: string): string {
  return `usr/lib/grub/${grubPlatform(architecture)}-signed/grub${efiArch(architecture)}.efi.signed`;
}

/**
 * Bootloader=grub-signed: the distribution's signed grub as it is (no modules: they are built in) at
 * `efiBinary`, and the EFI/<distribution>/grub.cfg it reads, which loads the ESP's grub/grub.cfg.
 * Returns false when the image has no signed grub.
 */
export async function installSignedGrubEfi(opts: {
  scan: string;
  esp: string;
  architecture: string;
  distribution: string;
  efiBinary: string;
}): Promise<boolean> {
  const signed = join(opts.scan, signedGrubPath(opts.architecture));
  if (!existsSync(signed)) return false;
  await placeEfiGrub(signed, opts);
  return true;
}

/** A grub EFI binary at `efiBinary` in the ESP, and EFI/<distribution>/grub.cfg (where signed grub builds
 * look for their configuration), which loads ours. */
async function placeEfiGrub(
  binary: string,
  opts: { esp: string; distribution: string; efiBinary: string },
): Promise<void> {
  const target = join(opts.esp, opts.efiBinary);
  await mkdir(join(target, ".."), { recursive: true });
  await copyFile(binary, target);
  const dir = join(opts.esp, "EFI", opts.distribution);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "grub.cfg"), EARLY_CONFIG);
}

/** grub's BIOS platform and the modules built into its core image (no EFI video; biosdisk to read disks). */
export const GRUB_BIOS_PLATFORM = "i386-pc";
const BIOS_MODULES = [
  "biosdisk",
  ...EMBEDDED_MODULES.filter((m) => m !== "efi_gop" && m !== "all_video" && m !== "chain"),
];

/**
 * Install grub for BIOS: its modules into `esp`/grub/i386-pc and, into `out`, core.img (grub-mkimage of
 * the image's i386-pc modules) and boot.img, which grub-bios-setup writes into the disk once it exists.
 * Returns false when the image has no i386-pc modules.
 */
export async function installGrubBios(
  ctx: TaskContext,
  tools: ToolsTreeMount | undefined,
  opts: { scan: string; esp: string; out: string },
): Promise<boolean> {
  const modules = join(opts.scan, "usr/lib/grub", GRUB_BIOS_PLATFORM);
  const names = await readdir(modules).catch(() => [] as string[]);
  if (!names.includes("boot.img")) return false;
  const made = await makeImage(ctx, tools, opts.scan, opts.esp, GRUB_BIOS_PLATFORM, "core.img", BIOS_MODULES);
  if (!made) return false;
  await mkdir(opts.out, { recursive: true });
  await copyFile(made, join(opts.out, "core.img"));
  await copyFile(join(modules, "boot.img"), join(opts.out, "boot.img"));
  return true;
}

/**
 * grub-mkimage of `platform` from the image's modules (below `scan`), with the early configuration that
 * finds the ESP's grub.cfg; the modules are copied to the ESP for insmod at boot (prefix ($root)/grub).
 * Returns the image's path in scratch space, or undefined when the image has no modules of the platform.
 */
async function makeImage(
  ctx: TaskContext,
  tools: ToolsTreeMount | undefined,
  scan: string,
  esp: string,
  platform: string,
  output: string,
  embedded: readonly string[],
): Promise<string | undefined> {
  const modules = join(scan, "usr/lib/grub", platform);
  const names = await readdir(modules).catch(() => undefined);
  if (!names?.some((n) => n === "normal.mod")) return undefined;
  const work = join(ctx.tmp, "grub", platform);
  await mkdir(work, { recursive: true });
  await writeFile(join(work, "early.cfg"), EARLY_CONFIG);
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
      `--output=/work/grub/${output}`,
      ...embedded,
    ],
    { binds },
  );
  // Without the build-only files (the images, the tools).
  const target = join(esp, "grub", platform);
  await mkdir(target, { recursive: true });
  for (const name of names.sort())
    if (/\.(mod|lst)$/.test(name)) await copyFile(join(modules, name), join(target, name));
  return join(work, output);
}

/** The bootloader step's artifact directory of grub's BIOS images (core.img, boot.img) for repart. */
export const BIOS_IMAGES = "bios";

/** Where grub-bios-setup lives: $PATH before Debian trixie, grub's i386-pc directory since. */
export const GRUB_BIOS_SETUP_PATH = `/usr/lib/grub/${GRUB_BIOS_PLATFORM}`;

/** The inputs of running grub-bios-setup: the program wherever the run finds it, in $PATH or in grub's
 * i386-pc directory (programs in the default tools tree are covered by its digest). */
export function biosSetupInputs(tools: ToolsTree | null): DeclaredInputs {
  const inputs = toolInputs(tools, ["grub-bios-setup"]);
  if (tools && (tools.kind === "image" || tools.producers)) return inputs;
  const root = tools?.path ?? "/";
  const fallback = join(root, GRUB_BIOS_SETUP_PATH, "grub-bios-setup");
  const label = `${tools ? "tools" : "host"}:${GRUB_BIOS_SETUP_PATH}/grub-bios-setup`;
  return withToolInputs(inputs, { paths: [[label, existsSync(fallback) ? { path: fallback } : null]] });
}

export interface GrubEntry {
  title: string;
  /** A UKI to chainload on EFI (path below the ESP)… */
  uki?: string;
  /** …and/or a kernel and initrds (paths below the ESP) with a command line: on BIOS, where a UKI cannot
   * run, or on both platforms when there is no UKI. */
  linux?: { kernel: string; initrds: string[]; cmdline: string };
}

/** The ESP's grub.cfg: one menu entry per kernel, the first booted after a short timeout. */
export function grubConfig(entries: readonly GrubEntry[]): string {
  const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  const lines = ["set default=0", "set timeout=3", ""];
  const linux = (entry: NonNullable<GrubEntry["linux"]>, indent: string) => [
    `${indent}linux /${entry.kernel} ${entry.cmdline}`,
    ...(entry.initrds.length > 0 ? [`${indent}initrd ${entry.initrds.map((i) => `/${i}`).join(" ")}`] : []),
  ];
  for (const entry of entries) {
    lines.push(`menuentry ${quote(entry.title)} {`);
    if (entry.uki && entry.linux)
      lines.push(
        '    if [ "$grub_platform" = "efi" ]; then',
        `        chainloader /${entry.uki}`,
        "    else",
        ...linux(entry.linux, "        "),
        "    fi",
      );
    else if (entry.uki) lines.push(`    chainloader /${entry.uki}`);
    else if (entry.linux) lines.push(...linux(entry.linux, "    "));
    lines.push("}", "");
  }
  return lines.join("\n");
}
