// uki: the kernels' boot entries in the ESP. With unified kernel images (UnifiedKernelImages=, or auto
// when the image ships the EFI stub), ukify joins the kernel, the microcode, the initrds (the default
// initrd or Initrds=, then the kernel-modules initrd), the command line and os-release into one PE
// binary per kernel, signed for SecureBoot when asked; otherwise Boot Loader Specification type 1
// entries. Its artifact is an ESP layer (tree/efi/…) that repart puts into the ESP.
//
// Key: what the entries contain (boot-scan's files: stub, os-release, /etc/kernel; the kernel step's
// output; the initrds' digests or files; the command line; signing keys and settings). The image itself
// is not an input, so a change to the root filesystem does not rebuild the UKIs.
import { copyFile, mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { UkiProfile } from "../../config/values.js";
import type {
  Json,
  NodeId,
  PathDeclaration,
  TaskContext,
  TaskDefinition,
  TaskResult,
} from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import {
  addonStub,
  type BootConfig,
  efiArch,
  imageIsInitrd,
  isGrub,
  ukiBootPath,
  usesPrebuiltUkis,
} from "../../formats/boot.js";
import { formatOf } from "../../formats/registry.js";
import type { BindMount, ToolsTreeMount } from "../../sandbox/run.js";
import {
  BOOT_SHAPE_READS,
  copyFirstStub,
  entryToken,
  type KernelMeta,
  osReleaseOf,
  PCRS_FILE,
  SHAPE_ONLY,
} from "../bootfiles.js";
import { GRUB_CONFIG, type GrubEntry, grubConfig } from "../grub.js";
import type { ImageView } from "../image.js";
import { LAYER_TREE } from "../layers.js";
import { splitArtifacts } from "../outputs.js";
import {
  SECURE_BOOT_CERTIFICATE,
  SECURE_BOOT_KEY,
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
  kernel: NodeId;
  /** The default initrd's output node, or none (Initrds= instead). */
  initrd: NodeId | null;
  initrds: string[];
  /** The first repart pass's root hash and partition UUIDs (verity disks). */
  roothash: NodeId | null;
  /** Format=uki, esp: the image (its last layer) is the initrd, as a cpio compressed with
   * CompressOutput=. */
  image: NodeId | null;
  compression: string;
  format: string;
  compressOutput: string;
  values: {
    KernelCommandLine: string[];
    Bootloader: string;
    BiosBootloader: string;
    /** Only with a UKI boot loader (shim then loads the UKI as its second stage). */
    ShimBootloader: string | null;
    Bootable: string;
    UnifiedKernelImages: string;
    UnifiedKernelImageFormat: string | null;
    ImageId: string | null;
    Distribution: string;
    Architecture: string;
    SecureBoot: boolean;
    SecureBootSignTool: string;
    Splash: string | null;
    SourceDateEpoch: number | null;
    SignExpectedPcr: string;
    UnifiedKernelImageProfiles: UkiProfile[];
    /** SplitArtifacts= holds pcrs: the newest UKI's PCR policy digests for offline signing. */
    SplitPcrs: boolean;
  };
  secureBootKey: string | null;
  secureBootCertificate: string | null;
  /** SignExpectedPcrKey= (only when SignExpectedPcr= is not disabled). */
  pcrKey: string | null;
  /** SignExpectedPcrCertificate= (only with SplitArtifacts=pcrs): its public key goes into the digests. */
  pcrCertificate: string | null;
  tools: ToolsTree | null;
  needs: ToolNeed[];
}

async function readOptional(path: string): Promise<string | undefined> {
  return readFile(path, "utf8").catch(() => undefined);
}

/** The kernel command line of the entries: /etc/kernel/cmdline (or /usr/lib/kernel/cmdline) of the
 * image, then KernelCommandLine=. */
export async function commandLine(scan: string, configured: string[]): Promise<string[]> {
  const own =
    (await readOptional(join(scan, "etc/kernel/cmdline"))) ??
    (await readOptional(join(scan, "usr/lib/kernel/cmdline")));
  return [...(own?.trim() ? [own.trim()] : []), ...configured];
}

/** Where the uki step keeps the image's initrd (Format=uki, esp) in its artifact. */
const IMAGE_INITRD_DIR = "image-initrd";

/** UnifiedKernelImageFormat= with its delayed specifiers (&e entry token, &k kernel version, &h hash). */
function entryName(format: string | null, token: string, version: string, hash?: string): string {
  return (format ?? "&e-&k").replace(/&(.)/g, (_m, c: string) =>
    c === "e" ? token : c === "k" ? version : c === "&" ? "&" : c === "h" ? (hash ?? "") : `&${c}`,
  );
}

/** `root=PARTUUID` (and `mount.usr=PARTUUID`) get the partition's UUID; the root hash is added unless
 * the command line names the root (or /usr) itself. */
function finalCommandLine(
  cmdline: string[],
  disk: { roothash: string | null; partitions: { type: string; uuid: string }[] } | undefined,
): string[] {
  if (!disk) return cmdline;
  let out = cmdline;
  for (const [name, prefix] of [
    ["root", "root-"],
    ["mount.usr", "usr-"],
  ] as const) {
    const part = disk.partitions.find((p) => p.type.startsWith(prefix) && !p.type.includes("verity"));
    if (part) out = out.map((arg) => (arg === `${name}=PARTUUID` ? `${name}=PARTUUID=${part.uuid}` : arg));
  }
  const words = out.join(" ").split(/\s+/);
  if (disk.roothash?.startsWith("roothash=") && !words.some((w) => w.startsWith("root=")))
    out = [...out, disk.roothash];
  if (disk.roothash?.startsWith("usrhash=") && !words.some((w) => w.startsWith("mount.usr=")))
    out = [...out, disk.roothash];
  return out;
}

const task: TaskDefinition<Params> = {
  name: "uki",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => {
    const paths: PathDeclaration[] = [
      ...p.initrds.map((path, i): PathDeclaration => [`Initrds[${i}]`, { path }]),
      ...secureBootPaths({
        enabled: p.values.SecureBoot,
        key: p.secureBootKey,
        certificate: p.secureBootCertificate,
      }),
    ];
    if (p.pcrKey?.startsWith("/")) paths.push(["SignExpectedPcrKey", { path: p.pcrKey, secret: true }]);
    if (p.pcrCertificate) paths.push(["SignExpectedPcrCertificate", { path: p.pcrCertificate }]);
    // A tools tree given as a path: its addon stub is read for the profiles (an image's is a dependency).
    if (p.values.UnifiedKernelImageProfiles.length > 0 && p.tools?.kind === "path" && !p.tools.producers)
      paths.push(["tools:addon-stub", { path: join(p.tools.path, addonStub(p.values.Architecture)) }]);
    return withToolInputs(
      {
        values: {
          ...(p.values as unknown as Record<string, Json>),
          Format: p.format,
          CompressOutput: p.compressOutput,
        },
        paths,
        deps: {
          scan: p.scan,
          kernel: p.kernel,
          ...(p.initrd ? { initrd: p.initrd } : {}),
          ...(p.roothash ? { roothash: p.roothash } : {}),
          ...(p.image ? { image: p.image } : {}),
        },
      },
      toolInputs(p.tools, ["ukify", "sbsign", "systemd-sbsign", "systemd-measure"]),
    );
  },
  run: (ctx, p) => withToolsTree(ctx, p.tools, (tools) => entries(ctx, p, tools)),
};

async function entries(ctx: TaskContext, p: Params, tools: ToolsTreeMount | undefined): Promise<TaskResult> {
  const scan = join(ctx.deps.scan!.dir, LAYER_TREE);
  const kernelDir = ctx.deps.kernel!.dir;
  const meta = ctx.deps.kernel!.meta as unknown as KernelMeta;
  const esp = join(ctx.out, LAYER_TREE, "efi");
  await mkdir(esp, { recursive: true });
  const v = p.values;
  if (meta.kernels.length === 0) {
    if (v.Bootable === "enabled")
      throw new Error("Bootable=yes, but the image has no kernel (/usr/lib/modules/<version>/vmlinuz)");
    ctx.log("no kernel found: the image gets no boot entries");
    return { meta: { entries: [] } };
  }
  const arch = efiArch(v.Architecture);
  const stub = `usr/lib/systemd/boot/efi/linux${arch}.efi.stub`;
  const haveStub = (await readOptional(join(scan, stub)).then((t) => t !== undefined)) as boolean;
  // Bootloader=*-signed: the image's own, pre-built UKIs, none built here.
  const prebuilt = usesPrebuiltUkis({ Format: p.format, ...v });
  const uki =
    prebuilt || v.UnifiedKernelImages === "enabled" || v.Bootloader === "uki" || v.Bootloader === "uki-signed"
      ? true
      : v.UnifiedKernelImages === "disabled"
        ? false
        : haveStub;
  if (uki && !prebuilt && !haveStub)
    throw new Error(
      `unified kernel images need the EFI stub /${stub} in the image (Debian: install systemd-boot-efi)`,
    );
  if (uki && !prebuilt && tools && p.tools?.kind === "image")
    checkToolsIn(tools.root, p.needs, "the default tools tree");
  const osRelease = await osReleaseOf(scan);
  const token = entryToken(osRelease?.text ?? "", v.ImageId, v.Distribution);
  const disk = ctx.deps.roothash?.meta as
    | { roothash: string | null; partitions: { type: string; uuid: string }[] }
    | undefined;
  const cmdline = finalCommandLine(await commandLine(scan, v.KernelCommandLine), disk);
  const hash = disk?.roothash?.split("=")[1];
  // The initrds in boot order: microcode, the default initrd or Initrds=, the kernel-modules initrd.
  const initrdFiles: string[] = [];
  /** Sandbox path → host path, for type 1 entries (which copy the initrds into the ESP). */
  const hostPaths = new Map<string, string>();
  const binds: BindMount[] = [
    { src: scan, dst: "/work/scan", readOnly: true },
    { src: kernelDir, dst: "/work/kernel", readOnly: true },
  ];
  if (meta.microcode) initrdFiles.push("/work/kernel/microcode.initrd");
  hostPaths.set("/work/kernel/microcode.initrd", join(kernelDir, "microcode.initrd"));
  if (p.initrd) {
    const dir = ctx.deps.initrd!.dir;
    binds.push({ src: dir, dst: "/work/initrd", readOnly: true });
    for (const name of (await readdir(dir)).sort()) {
      initrdFiles.push(`/work/initrd/${name}`);
      hostPaths.set(`/work/initrd/${name}`, join(dir, name));
    }
  }
  if (ctx.deps.image) {
    // The image as the initrd (Format=uki, esp). Its times are left as they are: the root is shared.
    const { makeCpio } = await import("../../formats/cpio.js");
    const { withStackReadOnly } = await import("../layers.js");
    // Kept in the artifact (beside the ESP tree) for SplitArtifacts=initrd.
    const dir = join(ctx.out, IMAGE_INITRD_DIR);
    await mkdir(dir, { recursive: true });
    await withStackReadOnly(ctx, ctx.deps.image, (root) =>
      makeCpio(root, join(dir, "initrd"), {
        compression: p.compression,
        clampMtimes: false,
        ownerRoot: true,
        signal: ctx.signal,
      }),
    );
    binds.push({ src: dir, dst: "/work/image-initrd", readOnly: true });
    initrdFiles.push("/work/image-initrd/initrd");
    hostPaths.set("/work/image-initrd/initrd", join(dir, "initrd"));
  }
  p.initrds.forEach((path, i) => {
    binds.push({ src: path, dst: `/work/initrds/${i}`, readOnly: true });
    initrdFiles.push(`/work/initrds/${i}`);
    hostPaths.set(`/work/initrds/${i}`, path);
  });
  const work = join(ctx.tmp, "uki-out");
  await mkdir(work, { recursive: true });
  binds.push({ src: work, dst: "/work/out" });
  await writeFile(join(work, "cmdline"), cmdline.join(" "));
  const keys = { enabled: v.SecureBoot, key: p.secureBootKey, certificate: p.secureBootCertificate };
  const signing = signs(keys);
  binds.push(...secureBootBinds(keys));
  const build = uki && !prebuilt;
  const measure = build ? await pcrSigning(ctx, p, tools) : false;
  if (measure) binds.push({ src: p.pcrKey!, dst: "/work/pcr.key", readOnly: true });
  const digests = build && (await pcrDigests(ctx, p, tools, measure));
  if (digests) binds.push({ src: p.pcrCertificate!, dst: "/work/pcr.crt", readOnly: true });
  // UnifiedKernelImageProfiles=: each profile is a PE of its own (the addon stub with the profile and
  // its command line), joined into every UKI.
  const profileArgs = build ? await buildProfiles(ctx, p, tools, scan, cmdline, binds, work) : [];
  /** ukify: one kernel's UKI, at `target` below the ESP; `newest` gets the PCR policy digests. */
  async function buildUki(version: string, initrds: string[], newest: boolean, target: string) {
    const argv = [
      "ukify",
      "build",
      `--linux=/work/kernel/${version}/vmlinuz`,
      ...initrds.map((i) => `--initrd=${i}`),
      "--cmdline=@/work/out/cmdline",
      ...(osRelease ? [`--os-release=@/work/scan/${osRelease.path}`] : []),
      `--uname=${version}`,
      `--stub=/work/scan/${stub}`,
      `--efi-arch=${arch}`,
      "--output=/work/out/uki.efi",
    ];
    if (v.Splash) argv.push(`--splash=/work/scan/${v.Splash.replace(/^\/+/, "")}`);
    argv.push(...profileArgs);
    if (measure) argv.push("--pcr-banks=sha256", "--pcr-private-key=/work/pcr.key");
    // The newest kernel's digests only (SplitArtifacts=pcrs names one file).
    const policy = digests && newest;
    if (policy)
      argv.push("--policy-digest", "--pcr-banks=sha256", "--pcr-certificate=/work/pcr.crt", "--json=short");
    if (signing) argv.push(...secureBootArgs(v.SecureBootSignTool));
    const stdout = await runTool(ctx, tools, argv, {
      binds,
      env: v.SourceDateEpoch !== null ? { SOURCE_DATE_EPOCH: String(v.SourceDateEpoch) } : {},
      captureStdout: policy,
    });
    if (policy) await writeFile(join(ctx.out, PCRS_FILE), pcrsJson(stdout));
    await rename(join(work, "uki.efi"), join(esp, target));
  }
  const kernels = v.Bootloader.startsWith("uki") ? meta.kernels.slice(0, 1) : meta.kernels;
  const written: string[] = [];
  /** Bootloader=grub: its menu, one entry per kernel. */
  const menu: GrubEntry[] = [];
  const title = (version: string) =>
    `${/^PRETTY_NAME=["']?(.*?)["']?$/m.exec(osRelease?.text ?? "")?.[1] ?? token} (${version})`;
  for (const kernel of kernels) {
    const initrds = [...initrdFiles];
    const modules = join(kernelDir, kernel.version, "modules.initrd");
    if (await readOptional(modules).then((t) => t !== undefined)) {
      initrds.push(`/work/kernel/${kernel.version}/modules.initrd`);
      hostPaths.set(`/work/kernel/${kernel.version}/modules.initrd`, modules);
    }
    const grubLinux = isGrub(v.Bootloader) || v.BiosBootloader === "grub";
    const files =
      !uki || v.BiosBootloader === "grub"
        ? await copyBootFiles(
            esp,
            token,
            kernel.version,
            initrds.map((i) => hostPaths.get(i)!),
            kernelDir,
          )
        : undefined;
    // Loaded by grub on BIOS, or on both platforms without UKIs.
    const linux =
      files && grubLinux ? { ...files, cmdline: grubCommandLine(cmdline, disk).join(" ") } : undefined;
    if (!uki) {
      written.push(...(await typeOneEntry(esp, token, kernel.version, cmdline, files!)));
      menu.push({ title: title(kernel.version), ...(linux ? { linux } : {}) });
      continue;
    }
    const target = v.Bootloader.startsWith("uki")
      ? ukiBootPath(v.Architecture, v.ShimBootloader)
      : `EFI/Linux/${entryName(v.UnifiedKernelImageFormat ?? (hash ? "&e-&k-&h" : null), token, kernel.version, hash)}.efi`;
    await mkdir(join(esp, target, ".."), { recursive: true });
    if (prebuilt) await copyPrebuiltUki(scan, kernel.version, v.Bootloader, join(esp, target));
    else await buildUki(kernel.version, initrds, written.length === 0, target);
    written.push(target);
    // With systemd-boot (or a UKI) as the EFI boot loader, grub's menu is for BIOS only.
    menu.push({
      title: title(kernel.version),
      ...(isGrub(v.Bootloader) ? { uki: target } : {}),
      ...(linux ? { linux } : {}),
    });
  }
  if (isGrub(v.Bootloader) || v.BiosBootloader === "grub") {
    await mkdir(join(esp, GRUB_CONFIG, ".."), { recursive: true });
    await writeFile(join(esp, GRUB_CONFIG), grubConfig(menu));
  }
  return { meta: { entries: written, cmdline: cmdline.join(" "), uki, ...(prebuilt ? { prebuilt } : {}) } };
}

/** Bootloader=*-signed: the kernel's pre-built UKI as the distribution installed it
 * (/usr/lib/modules/<kver>/*.efi, the first by name), copied as it is (its signature intact). */
async function copyPrebuiltUki(scan: string, version: string, bootloader: string, dest: string) {
  const dir = join(scan, "usr/lib/modules", version);
  const found = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(".efi")).sort();
  if (!found[0])
    throw new Error(
      `Bootloader=${bootloader}: no signed UKI in the image at /usr/lib/modules/${version}/*.efi (the signed boot loaders take the distribution's pre-built UKIs; Bootloader=${bootloader.replace(/-signed$/, "")} builds them, or UnifiedKernelImages=no uses none)`,
    );
  await copyFile(join(dir, found[0]), dest);
}

/** The kernel and initrds of one kernel version copied into the ESP (<token>/<kver>/linux, initrd<i>):
 * their paths below the ESP. */
async function copyBootFiles(
  esp: string,
  token: string,
  version: string,
  initrds: string[],
  kernelDir: string,
): Promise<{ kernel: string; initrds: string[] }> {
  const dir = join(esp, token, version);
  await mkdir(dir, { recursive: true });
  await copyFile(join(kernelDir, version, "vmlinuz"), join(dir, "linux"));
  const names: string[] = [];
  for (const [i, initrd] of initrds.entries()) {
    const name = `initrd${i}`;
    await copyFile(initrd, join(dir, name));
    names.push(`${token}/${version}/${name}`);
  }
  return { kernel: `${token}/${version}/linux`, initrds: names };
}

/** A Boot Loader Specification type 1 entry: loader/entries/<token>-<kver>.conf naming the boot files. */
async function typeOneEntry(
  esp: string,
  token: string,
  version: string,
  cmdline: string[],
  files: { kernel: string; initrds: string[] },
): Promise<string[]> {
  const entry = join(esp, "loader/entries");
  await mkdir(entry, { recursive: true });
  const conf = `${token}-${version}.conf`;
  await writeFile(
    join(entry, conf),
    [
      `title ${token} ${version}`,
      `version ${version}`,
      `linux /${files.kernel}`,
      ...files.initrds.map((n) => `initrd /${n}`),
      `options ${cmdline.join(" ")}`,
      "",
    ].join("\n"),
  );
  return [`loader/entries/${conf}`];
}

/** grub's entries that load a kernel: no EFI boot loader tells the initrd which partition is the root,
 * so the command line names it (root=PARTUUID=…) unless it names the root or /usr already. */
function grubCommandLine(
  cmdline: string[],
  disk: { roothash: string | null; partitions: { type: string; uuid: string }[] } | undefined,
): string[] {
  const words = cmdline.join(" ").split(/\s+/);
  if (words.some((w) => /^(root|mount\.usr|roothash|usrhash)=/.test(w))) return cmdline;
  const root = disk?.partitions.find((p) => p.type.startsWith("root-") && !p.type.includes("verity"));
  return root ? [...cmdline, `root=PARTUUID=${root.uuid}`] : cmdline;
}

/** The systemd version of a stub, from its SBAT section ("systemd-stub,1,The systemd Developers,systemd,
 * 257,…"; before 254: "systemd,1,…"). */
export function stubVersion(stub: string): number | undefined {
  const match = /(?:^|\n)systemd(?:-stub)?,\d+,The systemd Developers,systemd,(\d+),/.exec(stub);
  return match ? Number(match[1]) : undefined;
}

/** A UKI profile's .profile section: KEY=value lines, values with blanks or quotes in double quotes. */
export function profileSection(profile: Record<string, string>): string {
  const quote = (value: string) =>
    /^[A-Za-z0-9_.,:/@%+=-]*$/.test(value) ? value : `"${value.replace(/(["\\$`])/g, "\\$1")}"`;
  return `${Object.entries(profile)
    .map(([key, value]) => `${key}=${quote(value)}`)
    .join("\n")}\n`;
}

/** The policy digests ukify printed (its last line of JSON), written as upstream writes <Output>.pcrs:
 * one line, Python's separators (", " and ": "), no newline at the end. */
export function pcrsJson(stdout: string): string {
  const line = stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("{"))
    .pop();
  if (!line) throw new Error("ukify --policy-digest printed no PCR policy digests");
  return pythonJson(JSON.parse(line) as Json);
}

function pythonJson(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(", ")}]`;
  if (value && typeof value === "object")
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${pythonJson(v as Json)}`)
      .join(", ")}}`;
  return JSON.stringify(value);
}

/** SplitArtifacts=pcrs: whether ukify writes the UKI's PCR policy digests (unsigned, for signing
 * offline). Not when the build signs them itself (SignExpectedPcrKey=): then there is no such file, as
 * upstream does. Needs systemd-measure and SignExpectedPcrCertificate= (its public key is in them). */
async function pcrDigests(
  ctx: TaskContext,
  p: Params,
  tools: ToolsTreeMount | undefined,
  measure: boolean,
): Promise<boolean> {
  if (!p.values.SplitPcrs) return false;
  if (measure) {
    ctx.log(
      "SplitArtifacts=pcrs: the expected PCR measurements are signed in the build (SignExpectedPcrKey=): no policy digests to sign offline",
    );
    return false;
  }
  if (!p.pcrCertificate)
    throw new Error(
      "SplitArtifacts=pcrs needs SignExpectedPcrCertificate= (the certificate of the key that signs the digests offline)",
    );
  if (!(await hasMeasure(tools)))
    throw new Error(
      `SplitArtifacts=pcrs needs systemd-measure, which ${tools ? "the tools tree" : "the host"} lacks (Debian testing: ToolsTreePackages=systemd-tpm)`,
    );
  return true;
}

async function hasMeasure(tools: ToolsTreeMount | undefined): Promise<boolean> {
  const { existsSync } = await import("node:fs");
  const root = tools?.root ?? "/";
  return ["usr/lib/systemd/systemd-measure", "usr/bin/systemd-measure"].some((f) =>
    existsSync(join(root, f)),
  );
}

/** Whether the UKIs get signed expected PCR measurements (SignExpectedPcr=): `auto` when the tools have
 * systemd-measure and a key is configured, `yes` insists. */
async function pcrSigning(ctx: TaskContext, p: Params, tools: ToolsTreeMount | undefined): Promise<boolean> {
  const wanted = p.values.SignExpectedPcr;
  if (wanted === "disabled") return false;
  const found = await hasMeasure(tools);
  if (wanted === "enabled") {
    if (!p.pcrKey)
      throw new Error(
        "SignExpectedPcr=yes needs a key: set SignExpectedPcrKey= (or add mkosi.key, see mkosi genkey)",
      );
    if (!found)
      throw new Error(
        `SignExpectedPcr=yes needs systemd-measure, which ${tools ? "the tools tree" : "the host"} lacks (Debian testing: ToolsTreePackages=systemd-tpm)`,
      );
  }
  if (found && p.pcrKey) return true;
  ctx.log(
    `not signing expected PCR measurements (${found ? "no SignExpectedPcrKey=" : "no systemd-measure"})`,
  );
  return false;
}

/** Build each profile's PE into `work`; returns ukify's options that join them (and say which get
 * signed PCR measurements: the main profile and those with SignExpectedPcr=yes). */
async function buildProfiles(
  ctx: TaskContext,
  p: Params,
  tools: ToolsTreeMount | undefined,
  scan: string,
  cmdline: string[],
  binds: BindMount[],
  work: string,
): Promise<string[]> {
  const profiles = p.values.UnifiedKernelImageProfiles;
  if (profiles.length === 0) return [];
  const arch = efiArch(p.values.Architecture);
  // Older stubs have no room in their PE header for the profiles' sections (ukify fails late and obscurely).
  const linuxStub = `usr/lib/systemd/boot/efi/linux${arch}.efi.stub`;
  const version = stubVersion(await readFile(join(scan, linuxStub), "latin1"));
  if (version !== undefined && version < 257)
    throw new Error(
      `UnifiedKernelImageProfiles= needs systemd-stub ≥ 257 in the image (multi-profile UKIs); its /${linuxStub} is from systemd ${version}`,
    );
  // The image's addon stub, else the tools tree's: only the profile's sections are joined into the UKI,
  // never the stub's code, so its version does not matter (bookworm's systemd-boot-efi has none).
  const stub = addonStub(p.values.Architecture);
  const roots = [scan, ...(tools ? [tools.root] : [])];
  if (!(await copyFirstStub(roots, stub, join(work, "addon.efi.stub"))))
    throw new Error(
      `UnifiedKernelImageProfiles= needs the addon stub /${stub}, in the image or the tools tree (Debian: systemd-boot-efi ≥ 255)`,
    );
  const args: string[] = [];
  const signed = ["--sign-profile=main"];
  for (const [i, profile] of profiles.entries()) {
    const id = profile.Profile.ID;
    if (!id) throw new Error(`UnifiedKernelImageProfiles=: profile ${i + 1} has no ID= in its Profile=`);
    await writeFile(join(work, `profile${i}.profile`), profileSection(profile.Profile));
    await writeFile(join(work, `profile${i}.cmdline`), [...cmdline, ...profile.Cmdline].join(" "));
    await runTool(
      ctx,
      tools,
      [
        "ukify",
        "build",
        `--profile=@/work/out/profile${i}.profile`,
        `--efi-arch=${arch}`,
        "--stub=/work/out/addon.efi.stub",
        `--cmdline=@/work/out/profile${i}.cmdline`,
        `--output=/work/out/profile${i}.efi`,
      ],
      {
        binds,
        env: p.values.SourceDateEpoch !== null ? { SOURCE_DATE_EPOCH: String(p.values.SourceDateEpoch) } : {},
      },
    );
    args.push(`--join-profile=/work/out/profile${i}.efi`);
    if (profile.SignExpectedPcr) signed.push(`--sign-profile=${id}`);
  }
  return [...args, ...signed];
}

/** ukify's signing options, with the key and certificate bound where secureBootBinds puts them. */
export function secureBootArgs(signTool: string): string[] {
  return [
    `--secureboot-private-key=${SECURE_BOOT_KEY}`,
    `--secureboot-certificate=${SECURE_BOOT_CERTIFICATE}`,
    `--signtool=${signTool === "systemd-sbsign" ? "systemd-sbsign" : "sbsign"}`,
  ];
}

export function ukiNeeds(): ToolNeed[] {
  return [{ name: "ukify", version: 255, why: "Unified kernel images (Bootable=, Bootloader=)" }];
}

function splitsPcrs(image: ImageView): boolean {
  return splitArtifacts(image).includes("pcrs");
}

export const ukiStep: Step<Params> = {
  name: "uki",
  task,
  reads: (image) => [
    ...BOOT_SHAPE_READS,
    "CompressOutput",
    "KernelCommandLine",
    "UnifiedKernelImages",
    "UnifiedKernelImageFormat",
    "ImageId",
    "Distribution",
    "Architecture",
    "SecureBoot",
    "SecureBootSignTool",
    "Splash",
    "SourceDateEpoch",
    "SignExpectedPcr",
    "UnifiedKernelImageProfiles",
    ...(image.SecureBoot === true ? (["SecureBootKey", "SecureBootCertificate"] as const) : []),
    ...(image.SignExpectedPcr !== "disabled" ? (["SignExpectedPcrKey"] as const) : []),
    ...(splitsPcrs(image) ? (["SignExpectedPcrCertificate"] as const) : []),
  ],
  unkeyed: {
    ...SHAPE_ONLY,
    Initrds: "path inputs (Initrds[i])",
    SplitArtifacts: "only whether it holds pcrs (SplitPcrs)",
  },
  layer: false,
  wanted: (image) => formatOf(image.Format).steps(image).includes("uki"),
  params: (context) => {
    const { image, nodes, initrd, tools } = context;
    // Pre-built UKIs (Bootloader=*-signed) need no ukify.
    const needs =
      image.UnifiedKernelImages === "disabled" || usesPrebuiltUkis(image as BootConfig) ? [] : ukiNeeds();
    // Without a tools tree, a host without ukify can still make type 1 entries (UnifiedKernelImages=auto).
    if (image.UnifiedKernelImages === "enabled" || String(image.Bootloader).startsWith("uki"))
      checkTools(context, needs);
    return {
      scan: nodes["boot-scan"]!,
      kernel: nodes.kernel!,
      initrd: initrd?.node ?? null,
      initrds: (image.Initrds as string[] | undefined) ?? [],
      roothash: nodes.roothash ?? null,
      image: imageIsInitrd(image as BootConfig) ? (context.prev ?? null) : null,
      compression: image.CompressOutput === "none" ? "none" : String(image.CompressOutput ?? "zstd"),
      format: image.Format,
      compressOutput: image.CompressOutput,
      values: {
        KernelCommandLine: (image.KernelCommandLine as string[] | undefined) ?? [],
        Bootloader: String(image.Bootloader ?? "systemd-boot"),
        BiosBootloader: String(image.BiosBootloader ?? "none"),
        ShimBootloader: String(image.Bootloader).startsWith("uki")
          ? String(image.ShimBootloader ?? "none")
          : null,
        Bootable: String(image.Bootable),
        UnifiedKernelImages: String(image.UnifiedKernelImages ?? "auto"),
        UnifiedKernelImageFormat: (image.UnifiedKernelImageFormat as string | null) ?? null,
        ImageId: image.ImageId,
        Distribution: image.Distribution,
        Architecture: image.Architecture,
        SecureBoot: image.SecureBoot === true,
        SecureBootSignTool: String(image.SecureBootSignTool ?? "auto"),
        Splash: (image.Splash as string | null) ?? null,
        SourceDateEpoch: image.SourceDateEpoch,
        SignExpectedPcr: String(image.SignExpectedPcr ?? "auto"),
        UnifiedKernelImageProfiles: (image.UnifiedKernelImageProfiles as UkiProfile[] | undefined) ?? [],
        SplitPcrs: splitsPcrs(image),
      },
      pcrKey:
        image.SignExpectedPcr !== "disabled" ? ((image.SignExpectedPcrKey as string | null) ?? null) : null,
      pcrCertificate: splitsPcrs(image)
        ? ((image.SignExpectedPcrCertificate as string | null) ?? null)
        : null,
      ...secureBootKeyPaths(image),
      tools,
      needs,
    };
  },
};
