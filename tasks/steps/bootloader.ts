// bootloader: systemd-boot installed into an ESP layer (tree/efi/…) by bootctl from the tools tree, from
// the image's own systemd-boot binaries (boot-scan), signed for SecureBoot (sbsign) with automatic key
// enrollment when asked; or grub (Bootloader=grub, tasks/grub.ts: its menu is the uki step's). For
// BiosBootloader=grub, also grub's BIOS core image and boot.img in the artifact's bios/ directory, which
// the repart step writes into the disk. Reads only boot-scan's artifact and the signing keys.
import { copyFile, mkdir, readdir, rename } from "node:fs/promises";
import { basename, join } from "node:path";
import type { Json, NodeId, TaskContext, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import { efiArch, isGrub } from "../../formats/boot.js";
import { formatOf } from "../../formats/registry.js";
import type { BindMount, ToolsTreeMount } from "../../sandbox/run.js";
import { entryToken, osReleaseOf } from "../bootfiles.js";
import {
  BIOS_IMAGES,
  GRUB_BIOS_PLATFORM,
  grubPlatform,
  installGrubBios,
  installGrubEfi,
  installSignedGrubEfi,
  signedGrubPath,
} from "../grub.js";
import { LAYER_TREE } from "../layers.js";
import {
  type SecureBootKeys,
  sbsignFile,
  secureBootBinds,
  secureBootKeyPaths,
  secureBootPaths,
  signs,
} from "../secureboot.js";

import type { Step } from "../step.js";
import { checkTools, checkToolsIn, type ToolNeed } from "../toolcheck.js";
import { runTool } from "../toolrun.js";
import { type ToolsTree, toolInputs, withToolInputs, withToolsTree } from "../toolstree.js";

interface Params {
  scan: NodeId;
  values: {
    Bootloader: string;
    BiosBootloader: string;
    Bootable: string;
    Architecture: string;
    ImageId: string | null;
    Distribution: string;
    SecureBoot: boolean;
    SecureBootAutoEnroll: boolean;
    ShimBootloader: string;
  };
  secureBootKey: string | null;
  secureBootCertificate: string | null;
  tools: ToolsTree | null;
  needs: ToolNeed[];
}

const task: TaskDefinition<Params> = {
  name: "bootloader",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => {
    const paths = secureBootPaths(keysOf(p));
    return withToolInputs(
      { values: p.values as unknown as Record<string, Json>, paths, deps: { scan: p.scan } },
      toolInputs(p.tools, ["bootctl", "sbsign", "grub-mkimage"]),
    );
  },
  run: (ctx, p) =>
    withToolsTree(ctx, p.tools, async (tools) => {
      const result = await install(ctx, p, tools);
      if (p.values.ShimBootloader !== "none") {
        // With a UKI as the boot loader, the uki step places it where shim looks for its second stage.
        if (result.meta.installed) await installShim(ctx, p, tools, { renameLoader: true });
        else if (p.values.Bootloader.startsWith("uki"))
          await installShim(ctx, p, tools, { renameLoader: false });
      }
      const bios = p.values.BiosBootloader === "grub" ? await installBios(ctx, p, tools) : false;
      return { meta: { ...result.meta, bios } };
    }),
};

/** BiosBootloader=grub: grub's i386-pc modules into the ESP, its core image and boot.img beside it. */
async function installBios(ctx: TaskContext, p: Params, tools: ToolsTreeMount | undefined): Promise<boolean> {
  const scan = join(ctx.deps.scan!.dir, LAYER_TREE);
  const esp = join(ctx.out, LAYER_TREE, "efi");
  const installed = await installGrubBios(ctx, tools, { scan, esp, out: join(ctx.out, BIOS_IMAGES) });
  if (installed) return true;
  const message = `BiosBootloader=grub: the image has no grub BIOS modules in /usr/lib/grub/${GRUB_BIOS_PLATFORM} (Debian: install grub-pc-bin)`;
  if (p.values.Bootable === "enabled") throw new Error(message);
  ctx.log(`${message}: no BIOS boot loader installed`);
  return false;
}

async function install(ctx: TaskContext, p: Params, tools: ToolsTreeMount | undefined) {
  const v = p.values;
  const scan = join(ctx.deps.scan!.dir, LAYER_TREE);
  const out = join(ctx.out, LAYER_TREE, "efi");
  await mkdir(out, { recursive: true });
  const arch = efiArch(v.Architecture);
  if (isGrub(v.Bootloader)) return grub(ctx, p, tools, scan, out, arch);
  if (!v.Bootloader.startsWith("systemd-boot")) return { meta: { installed: false } };
  const efiDir = "usr/lib/systemd/boot/efi";
  const binaries = (await readdir(join(scan, efiDir)).catch(() => [] as string[])).filter((n) =>
    n.startsWith("systemd-boot"),
  );
  if (!binaries.some((n) => n.startsWith(`systemd-boot${arch}.efi`))) {
    if (v.Bootable === "enabled")
      throw new Error(
        `Bootloader=${v.Bootloader}: the image has no /${efiDir}/systemd-boot${arch}.efi (Debian: install systemd-boot-efi)`,
      );
    ctx.log("no systemd-boot in the image: no bootloader installed");
    return { meta: { installed: false } };
  }
  if (tools && p.tools?.kind === "image") checkToolsIn(tools.root, p.needs, "the default tools tree");
  // A scratch root holding what bootctl reads (the binaries) and the ESP it writes to.
  const root = join(ctx.tmp, "root");
  await mkdir(join(root, efiDir), { recursive: true });
  await mkdir(join(root, "efi"), { recursive: true });
  await mkdir(join(root, "etc"), { recursive: true });
  for (const name of binaries) await copyFile(join(scan, efiDir, name), join(root, efiDir, name));
  const keys = keysOf(p);
  const signing = signs(keys);
  const binds: BindMount[] = secureBootBinds(keys);
  if (signing && v.Bootloader === "systemd-boot") {
    // bootctl installs <name>.efi.signed in place of <name>.efi when there is one.
    for (const name of binaries.filter((n) => n.endsWith(".efi"))) {
      const binary = join(root, efiDir, name);
      await sbsignFile(ctx, tools, keys, binary, `${binary}.signed`);
    }
  }
  const argv = [
    "bootctl",
    "install",
    "--root=/buildroot",
    "--install-source=image",
    "--all-architectures",
    "--no-variables",
    "--esp-path=/efi",
    "--random-seed=no",
    "--make-entry-directory=no",
    `--entry-token=literal:${entryToken((await osReleaseOf(scan))?.text ?? "", v.ImageId, v.Distribution)}`,
  ];
  if (signing && v.SecureBootAutoEnroll)
    argv.push(
      "--secure-boot-auto-enroll=yes",
      "--private-key=/work/secureboot.key",
      "--certificate=/work/secureboot.crt",
    );
  await runTool(ctx, tools, argv, { root, binds, env: { SYSTEMD_RELAX_ESP_CHECKS: "1" } });
  for (const name of await readdir(join(root, "efi"))) await rename(join(root, "efi", name), join(out, name));
  return { meta: { installed: true } };
}

/** Bootloader=grub: grub-mkimage of the image's grub EFI modules (tasks/grub.ts), signed for SecureBoot;
 * grub-signed: the distribution's signed binary, as it is. */
async function grub(
  ctx: TaskContext,
  p: Params,
  tools: ToolsTreeMount | undefined,
  scan: string,
  out: string,
  arch: string,
) {
  const v = p.values;
  const efiBinary = `EFI/BOOT/BOOT${arch.toUpperCase()}.EFI`;
  const target = {
    scan,
    esp: out,
    architecture: v.Architecture,
    distribution: v.Distribution,
    efiBinary,
  };
  if (v.Bootloader === "grub-signed") {
    if (await installSignedGrubEfi(target)) return { meta: { installed: true } };
    const message = `Bootloader=grub-signed: the image has no signed grub /${signedGrubPath(v.Architecture)} (Debian: install grub-efi-${debianEfiArch(arch)}-signed)`;
    if (v.Bootable === "enabled") throw new Error(message);
    ctx.log(`${message}: no bootloader installed`);
    return { meta: { installed: false } };
  }
  const installed = await installGrubEfi(ctx, tools, target);
  if (!installed) {
    const message = `Bootloader=grub: the image has no grub EFI modules in /usr/lib/grub/${grubPlatform(v.Architecture)} (Debian: install grub-efi-${debianEfiArch(arch)}-bin)`;
    if (v.Bootable === "enabled") throw new Error(message);
    ctx.log(`${message}: no bootloader installed`);
    return { meta: { installed: false } };
  }
  if (signs(keysOf(p))) await sbsignFile(ctx, tools, keysOf(p), join(out, efiBinary), join(out, efiBinary));
  return { meta: { installed: true } };
}

/**
 * ShimBootloader=: shim becomes EFI/BOOT/BOOT<ARCH>.EFI and loads grub<arch>.efi (its second stage): the
 * boot loader installed there before, renamed, or the UKI (Bootloader=uki, placed by the uki step), with
 * MokManager beside it. `signed` takes the distribution's signed binaries as they are; `unsigned` signs
 * them with SecureBootKey= when SecureBoot= is on.
 */
async function installShim(
  ctx: TaskContext,
  p: Params,
  tools: ToolsTreeMount | undefined,
  { renameLoader }: { renameLoader: boolean },
): Promise<void> {
  const v = p.values;
  const arch = efiArch(v.Architecture);
  const scan = join(ctx.deps.scan!.dir, LAYER_TREE);
  const out = join(ctx.out, LAYER_TREE, "efi");
  const suffix = v.ShimBootloader === "signed" ? ".signed" : "";
  const shim = join(scan, `usr/lib/shim/shim${arch}.efi${suffix}`);
  const mokManager = join(scan, `usr/lib/shim/mm${arch}.efi${suffix}`);
  if (
    !(await readdir(join(scan, "usr/lib/shim")).then(
      (names) => names.includes(basename(shim)),
      () => false,
    ))
  )
    throw new Error(
      `ShimBootloader=${v.ShimBootloader}: the image has no /usr/lib/shim/shim${arch}.efi${suffix} (Debian: install shim-${v.ShimBootloader})`,
    );
  const boot = join(out, "EFI/BOOT");
  await mkdir(boot, { recursive: true });
  if (renameLoader) await rename(join(boot, `BOOT${arch.toUpperCase()}.EFI`), join(boot, `grub${arch}.efi`));
  const targets: [string, string][] = [[shim, `BOOT${arch.toUpperCase()}.EFI`]];
  if (await readdir(join(scan, "usr/lib/shim")).then((names) => names.includes(basename(mokManager))))
    targets.push([mokManager, `mm${arch}.efi`]);
  const sign = v.ShimBootloader === "unsigned" && signs(keysOf(p));
  for (const [source, name] of targets) {
    if (sign) await sbsignFile(ctx, tools, keysOf(p), source, join(boot, name));
    else await copyFile(source, join(boot, name));
  }
}

/** The architecture in Debian's grub package names (grub-efi-amd64-bin, grub-efi-arm64-signed). */
function debianEfiArch(arch: string): string {
  return ({ x64: "amd64", aa64: "arm64" } as Record<string, string>)[arch] ?? arch;
}

function keysOf(p: Params): SecureBootKeys {
  return { enabled: p.values.SecureBoot, key: p.secureBootKey, certificate: p.secureBootCertificate };
}

export const bootloaderStep: Step<Params> = {
  name: "bootloader",
  task,
  reads: (image) => [
    "Bootloader",
    "BiosBootloader",
    "Bootable",
    "Architecture",
    "ImageId",
    "Distribution",
    "SecureBoot",
    "SecureBootAutoEnroll",
    "ShimBootloader",
    ...(image.SecureBoot === true ? (["SecureBootKey", "SecureBootCertificate"] as const) : []),
  ],
  layer: false,
  wanted: (image) => formatOf(image.Format).steps(image).includes("bootloader"),
  params: (context) => {
    const { image, nodes, tools } = context;
    const needs: ToolNeed[] = [
      { name: "bootctl", version: 257, why: `Bootloader=${String(image.Bootloader)}` },
    ];
    if (String(image.Bootloader).startsWith("systemd-boot")) checkTools(context, needs);
    return {
      scan: nodes["boot-scan"]!,
      values: {
        Bootloader: String(image.Bootloader ?? "systemd-boot"),
        BiosBootloader: String(image.BiosBootloader ?? "none"),
        Bootable: String(image.Bootable),
        Architecture: image.Architecture,
        ImageId: image.ImageId,
        Distribution: image.Distribution,
        SecureBoot: image.SecureBoot === true,
        SecureBootAutoEnroll: image.SecureBootAutoEnroll !== false,
        ShimBootloader: String(image.ShimBootloader ?? "none"),
      },
      ...secureBootKeyPaths(image),
      tools,
      needs,
    };
  },
};
