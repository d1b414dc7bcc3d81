// The repart step (Format=disk): systemd-repart from the tools tree writes the GPT disk image from the
// finished image (mounted read-only at /buildroot) and, for a bootable image, the ESP tree (the
// bootloader's and the UKIs' layers, seen at /efi above the image). Definitions are the user's
// (RepartDirectories=, mkosi.repart/) or mkosi's defaults (formats/repart.ts). Its artifact holds the
// files publish places: the disk (compressed per CompressOutput=), split partitions and the root hash.
//
// Key: the image and ESP layers' digests, the definitions (content), the settings below, the tools. A
// random per-invocation Seed= is not part of the key (any seed is as good as another); a pinned one is.
import { existsSync } from "node:fs";
import { mkdir, readdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Json, NodeId, PathDeclaration, TaskContext, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import { formatOf } from "../../formats/registry.js";
import type { OutputConfig } from "../../formats/types.js";
import type { ToolsTreeMount } from "../../sandbox/run.js";
import { BOOT_SHAPE_READS, SHAPE_ONLY } from "../bootfiles.js";
import { BIOS_IMAGES, biosSetupInputs, GRUB_BIOS_SETUP_PATH } from "../grub.js";
import type { ImageView } from "../image.js";
import { LAYER_TREE, stackDirs, stackKeys } from "../layers.js";
import { outputNaming, splitArtifacts } from "../outputs.js";
import type { SettingName } from "../settings-view.js";
import { imageBelow, type Step, type StepPlanContext } from "../step.js";
import { checkTools, checkToolsIn, type ToolNeed } from "../toolcheck.js";
import { runTool, TOOL_PATH } from "../toolrun.js";
import { type ToolsTree, toolInputs, withToolInputs, withToolsTree } from "../toolstree.js";
import { pathInputs } from "../trees.js";

type Naming = OutputConfig & Record<string, Json>;

export interface RepartParams {
  naming: Naming;
  image: NodeId;
  /** Layers whose `efi/` holds the ESP's content (bootloader, UKIs), bottom first. */
  esp: NodeId[];
  /** RepartDirectories= (user definitions); empty: mkosi's defaults, made from `defaults`. */
  definitions: string[];
  defaults: {
    Distribution: string;
    Esp: boolean;
    BiosBoot: boolean;
    RootFilesystem: string | null;
    /** Format=esp: nothing but the ESP, sized to its content. */
    EspOnly: boolean;
  } | null;
  configDir: string;
  /** A pinned Seed= (null: random, not an input). */
  seed: string | null;
  randomSeed: string | null;
  sectorSize: number | null;
  splitPartitions: boolean;
  splitRoothash: boolean;
  sourceDateEpoch: number | null;
  passphrase: string | null;
  verityKey: string | null;
  verityCertificate: string | null;
  verity: string;
  /** Extension images: their kind (mkosi's definitions, an extension-release file) and the values that
   * file is made of. */
  extension: {
    kind: "sysext" | "confext" | "portable";
    ImageId: string | null;
    ImageVersion: string | null;
    Architecture: string;
  } | null;
  /** Overlay=yes: the base trees' layer, left out of the output (only the changes to it are). */
  base: NodeId | null;
  /** Two passes for a bootable verity disk: "root" writes every partition but the ESP (whose UKI needs
   * the root hash), "esp" adds the ESP to a copy of the first pass's disk. "all": one pass. */
  pass: "all" | "root" | "esp";
  /** The first pass's node (pass "esp"). */
  first: NodeId | null;
  /** Settings read as they are (the key covers them under their names). */
  settings: Record<string, Json>;
  tools: ToolsTree | null;
  needs: ToolNeed[];
}

/** How verity is done: not at all, a hash partition, a signed one (key and certificate given), or a
 * signature partition left empty for later (defer). */
function verityMode(
  p: Pick<RepartParams, "verity" | "verityKey" | "verityCertificate">,
): "none" | "hash" | "signed" | "defer" {
  const keys = !!(p.verityKey && p.verityCertificate);
  if (p.verity === "disabled") return "none";
  if (p.verity === "hash") return "hash";
  if (p.verity === "defer") return "defer";
  if (p.verity === "signed") return "signed";
  return keys ? "signed" : "none";
}

/** Programs repart runs (mkfs for every filesystem it may create, mcopy for vfat). */
const REPART_TOOLS = [
  "systemd-repart",
  "mkfs.ext4",
  "mkfs.vfat",
  "mcopy",
  "mkfs.erofs",
  "mksquashfs",
  "mkfs.btrfs",
  "mkfs.xfs",
];

/** Definitions, key files and the passphrase are read from the host. */
function pathsOf(p: RepartParams): PathDeclaration[] {
  const paths: PathDeclaration[] = pathInputs(
    p.configDir,
    p.definitions.map((dir) => ({ setting: "RepartDirectories", path: dir })),
  );
  if (p.passphrase) paths.push(["Passphrase", { path: p.passphrase, secret: true }]);
  if (p.verityKey?.startsWith("/")) paths.push(["VerityKey", { path: p.verityKey, secret: true }]);
  if (p.verityCertificate?.startsWith("/")) paths.push(["VerityCertificate", { path: p.verityCertificate }]);
  return paths;
}

const task: TaskDefinition<RepartParams> = {
  name: "repart",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) =>
    withToolInputs(
      {
        values: {
          ...p.naming,
          DefaultDefinitions: p.defaults,
          Seed: p.seed,
          SectorSize: p.sectorSize,
          SplitPartitions: p.splitPartitions,
          SplitRoothash: p.splitRoothash,
          SourceDateEpoch: p.sourceDateEpoch,
          Verity: p.verity,
          Extension: p.extension,
          Pass: p.pass,
          ...p.settings,
        },
        paths: pathsOf(p),
        deps: {
          image: p.image,
          ...(p.base ? { base: p.base } : {}),
          ...(p.first ? { first: p.first } : {}),
          ...Object.fromEntries(p.esp.map((id, i) => [`esp:${i}`, id])),
        },
      },
      withToolInputs(
        toolInputs(p.tools, REPART_TOOLS),
        // grub-bios-setup runs after the last pass.
        p.settings.BiosBootloader === "grub" && p.pass !== "root" ? biosSetupInputs(p.tools) : {},
      ),
    ),
  run: (ctx, p) => withToolsTree(ctx, p.tools, (tools) => repart(ctx, p, tools)),
};

async function repart(ctx: TaskContext, p: RepartParams, tools: ToolsTreeMount | undefined) {
  if (tools && p.tools?.kind === "image") checkToolsIn(tools.root, p.needs, "the default tools tree");
  const { outputNames } = await import("../../formats/naming.js");
  const { compressFile } = await import("../../formats/compress.js");
  const { defaultDefinitions, repartCommand } = await import("../../formats/repart.js");
  const { parseRepartJson, rootHash } = await import("../../formats/repart-json.js");
  const { mountOverlay } = await import("../../sandbox/overlay.js");
  const names = outputNames(p.naming);
  const root = join(ctx.tmp, "root");
  const defs = join(ctx.tmp, "definitions");
  const work = join(ctx.tmp, "out");
  await Promise.all([mkdir(root, { recursive: true }), mkdir(defs, { recursive: true }), mkdir(work)]);
  const binds = [{ src: work, dst: "/work/out" }];
  const definitions: string[] = [];
  const mode = verityMode(p);
  if (p.extension) {
    const { extensionDefinitions } = await import("../../formats/extension.js");
    const generated = extensionDefinitions(p.extension.kind, {
      hash: mode !== "none",
      signed: mode === "signed" || mode === "defer",
    });
    for (const [name, text] of Object.entries(generated)) await writeFile(join(defs, name), text);
    binds.push({ src: defs, dst: "/work/definitions/0", readOnly: true } as (typeof binds)[number]);
    definitions.push("/work/definitions/0");
  } else if (p.defaults?.EspOnly) {
    const { espOnlyDefinition } = await import("../../formats/repart.js");
    const espDirs = p.esp.map((_, i) => join(ctx.deps[`esp:${i}`]!.dir, LAYER_TREE));
    let bytes = 0;
    for (const dir of espDirs) {
      const { stdout } = await ctx.exec("du", ["-sb", "--", dir], { captureStdout: true });
      bytes += Number(stdout.split(/\s/)[0]);
    }
    await writeFile(join(defs, "00-esp.conf"), espOnlyDefinition(bytes, p.sectorSize));
    binds.push({ src: defs, dst: "/work/definitions/0", readOnly: true } as (typeof binds)[number]);
    definitions.push("/work/definitions/0");
  } else if (p.defaults) {
    const { distribution } = await import("../../distros/index.js");
    const generated = defaultDefinitions({
      rootFilesystem: p.defaults.RootFilesystem ?? distribution(p.defaults.Distribution).filesystem,
      esp: p.defaults.Esp,
      biosBoot: p.defaults.BiosBoot,
    });
    for (const [name, text] of Object.entries(generated)) await writeFile(join(defs, name), text);
    binds.push({ src: defs, dst: "/work/definitions/0", readOnly: true } as (typeof binds)[number]);
    definitions.push("/work/definitions/0");
  } else {
    p.definitions.forEach((dir, i) => {
      binds.push({ src: dir, dst: `/work/definitions/${i}`, readOnly: true } as (typeof binds)[number]);
      definitions.push(`/work/definitions/${i}`);
    });
  }
  if (p.passphrase)
    binds.push({ src: p.passphrase, dst: "/work/passphrase", readOnly: true } as (typeof binds)[number]);
  const signing =
    (mode === "signed" || (mode === "defer" && !p.extension)) && p.verityKey && p.verityCertificate;
  if (signing) {
    binds.push({ src: p.verityKey!, dst: "/work/verity.key", readOnly: true } as (typeof binds)[number]);
    binds.push({
      src: p.verityCertificate!,
      dst: "/work/verity.crt",
      readOnly: true,
    } as (typeof binds)[number]);
  }
  // The image below, the ESP layers above it (their efi/ is the ESP's content).
  const espDirs = p.esp.map((_, i) => join(ctx.deps[`esp:${i}`]!.dir, LAYER_TREE));
  // Overlay=yes: the layers of the base trees (and below) are not part of the output. By position, not by
  // key: a cached layer above may sit on other keys of the same content (tasks/layers.ts).
  const baseDepth = ctx.deps.base ? stackKeys(ctx, ctx.deps.base).length : 0;
  const stack = stackDirs(ctx, stackKeys(ctx, ctx.deps.image).slice(baseDepth));
  const extra = p.extension
    ? [await extensionLayer(ctx, p, stackDirs(ctx, stackKeys(ctx, ctx.deps.image)))]
    : [];
  const mount = await mountOverlay({ lowers: [...stack, ...extra, ...espDirs], target: root });
  // The second pass adds the ESP to a copy of the first pass's disk (same definitions, same seed).
  const firstDisk = p.pass === "esp" ? join(ctx.deps.first!.dir, FIRST_PASS_DISK) : undefined;
  const output = p.pass === "root" ? FIRST_PASS_DISK : names.withFormat;
  if (firstDisk) await ctx.exec("cp", ["--sparse=always", firstDisk, join(work, output)]);
  let json: string;
  try {
    json = await runTool(
      ctx,
      tools,
      repartCommand({
        root: "/buildroot",
        definitions,
        output: `/work/out/${output}`,
        seed: p.seed ?? p.randomSeed,
        empty: firstDisk ? "allow" : "create",
        sectorSize: p.sectorSize,
        split: p.splitPartitions && p.pass !== "root",
        keyFile: p.passphrase ? "/work/passphrase" : null,
        privateKey: signing ? "/work/verity.key" : null,
        certificate: signing ? "/work/verity.crt" : null,
        deferPartitions: [
          ...(mode === "defer" ? ["root-verity-sig", "usr-verity-sig"] : []),
          ...(p.pass === "root" ? ["esp", "xbootldr"] : []),
        ],
      }),
      {
        root,
        rootReadOnly: true,
        binds,
        captureStdout: true,
        env: p.sourceDateEpoch !== null ? { SOURCE_DATE_EPOCH: String(p.sourceDateEpoch) } : {},
      },
    );
  } finally {
    await mount.unmount();
  }
  const partitions = parseRepartJson(json);
  if (p.verity === "signed" && !partitions.some((part) => part.type.includes("verity-sig")))
    throw new Error("Verity=signed, but the disk image has no verity signature partition");
  const meta = {
    partitions: partitions.map((part) => ({
      type: part.type,
      uuid: part.uuid,
      partno: part.partno,
      ...(part.roothash ? { roothash: part.roothash } : {}),
      ...(part.usrhash ? { usrhash: part.usrhash } : {}),
    })),
  } as Json;
  if (p.pass === "root") {
    await rename(join(work, output), join(ctx.out, output));
    return { meta };
  }
  await installBiosBoot(ctx, p, tools, work, output);
  // The disk and the split partitions, compressed as a whole when CompressOutput= asks for it.
  for (const name of await readdir(work)) {
    const target = name === names.withFormat ? names.withCompression : name;
    if (names.outerCompression === "none") await rename(join(work, name), join(ctx.out, target));
    else
      await compressFile(
        join(work, name),
        join(
          ctx.out,
          name === names.withFormat ? target : `${name}.${names.withCompression.split(".").pop()}`,
        ),
        names.outerCompression,
        { level: (p.naming.CompressLevel as number | null) ?? null, signal: ctx.signal },
      );
  }
  const hash = rootHash(partitions);
  if (hash && p.splitRoothash) await writeFile(join(ctx.out, names.splitRoothash), `${hash.hash}\n`);
  return { meta };
}

/** BiosBootloader=grub: grub-bios-setup writes boot.img into the disk's MBR and the core image the
 * bootloader step made (its artifact's bios/) into the BIOS boot partition. */
async function installBiosBoot(
  ctx: TaskContext,
  p: RepartParams,
  tools: ToolsTreeMount | undefined,
  work: string,
  disk: string,
): Promise<void> {
  const images = p.esp.map((_, i) => join(ctx.deps[`esp:${i}`]!.dir, BIOS_IMAGES)).find((d) => existsSync(d));
  if (!images) return;
  if (p.defaults?.EspOnly) {
    ctx.log("Format=esp has no BIOS boot partition: grub is not installed for BIOS");
    return;
  }
  // grub-bios-setup insists that its --directory lives on a disk it can open, and finds that disk in
  // /proc/self/mountinfo. Our directory is on the host's disk, which the sandbox does not have: the
  // program sees a mountinfo that puts the directory on the image itself.
  const octal = (path: string) =>
    path.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
  const mountinfo = join(ctx.tmp, "grub-mountinfo");
  await writeFile(mountinfo, `1 0 0:0 / /work/bios ro - ext4 ${octal(`/work/out/${disk}`)} ro\n`);
  await runTool(ctx, tools, ["grub-bios-setup", "--directory=/work/bios", `/work/out/${disk}`], {
    binds: [
      { src: images, dst: "/work/bios", readOnly: true },
      { src: work, dst: "/work/out" },
      { src: mountinfo, dst: "/proc/self/mountinfo", readOnly: true },
    ],
    env: { PATH: `${TOOL_PATH}:${GRUB_BIOS_SETUP_PATH}` },
    asPid1: true,
  });
}

/** The first pass's disk in its artifact. */
const FIRST_PASS_DISK = "first-pass.raw";

/** A layer holding the extension-release file (made from the image's os-release), above the image. */
async function extensionLayer(ctx: TaskContext, p: RepartParams, layers: string[]): Promise<string> {
  const { extensionRelease, extensionReleasePath } = await import("../../formats/extension.js");
  const { outputNames } = await import("../../formats/naming.js");
  const { readFile } = await import("node:fs/promises");
  const dir = join(ctx.tmp, "extension-release");
  const ext = p.extension!;
  const path = ext.kind === "portable" ? null : extensionReleasePath(ext.kind, outputNames(p.naming).output);
  await mkdir(dir, { recursive: true });
  if (!path || ext.kind === "portable") return dir;
  let osRelease = "";
  // The topmost layer's os-release (layers bottom first).
  for (const layer of [...layers].reverse()) {
    const text =
      (await readFile(join(layer, "usr/lib/os-release"), "utf8").catch(() => undefined)) ??
      (await readFile(join(layer, "etc/os-release"), "utf8").catch(() => undefined));
    if (text !== undefined) {
      osRelease = text;
      break;
    }
  }
  await mkdir(join(dir, path, ".."), { recursive: true });
  await writeFile(
    join(dir, path),
    extensionRelease(ext.kind, {
      osRelease,
      imageId: ext.ImageId,
      imageVersion: ext.ImageVersion,
      architecture: ext.Architecture,
    }),
  );
  return dir;
}

/** The tool needs of a disk image (checked while planning, or in the step for the default tree). */
export function repartNeeds(image: ImageView): ToolNeed[] {
  return [{ name: "systemd-repart", version: 255, why: `Format=${image.Format}` }];
}

const REPART_READS = [
  ...BOOT_SHAPE_READS,
  "Output",
  "OutputExtension",
  "CompressOutput",
  "CompressLevel",
  "Distribution",
  "Seed",
  "SectorSize",
  "SourceDateEpoch",
  "Passphrase",
  "VerityKey",
  "VerityCertificate",
  "Verity",
  "ImageId",
  "ImageVersion",
  "Architecture",
  "Overlay",
] as const satisfies readonly SettingName[];

const REPART_UNKEYED = {
  ...SHAPE_ONLY,
  Seed: "a random per-invocation seed is no input (any is as good as another); a pinned one is keyed as Seed",
  RepartDirectories: "the definition directories are path inputs by content",
  SplitArtifacts: "only partitions and roothash, keyed as SplitPartitions and SplitRoothash (the last pass)",
};

/** The first pass of a bootable verity disk (see RepartParams.pass): the same step, planned earlier. */
export const repartRootStep: Step<RepartParams> = {
  name: "repart-root",
  task: { ...task, name: "repart" },
  reads: REPART_READS,
  unkeyed: REPART_UNKEYED,
  layer: false,
  wanted: (image) => formatOf(image.Format).steps(image).includes("repart-root"),
  params: (context) => repartStep.params(context),
};

interface RoothashParams {
  first: NodeId;
}

/** roothash: the root hash and partition UUIDs of the first pass, alone, so the UKI reruns only when
 * they change (not on every change of the disk's bytes). */
export const roothashStep: Step<RoothashParams> = {
  name: "roothash",
  task: {
    name: "roothash",
    implementation: implementationDigest(import.meta.url),
    inputs: (p) => ({ deps: { first: p.first } }),
    async run(ctx) {
      const meta = ctx.deps.first!.meta as {
        partitions?: { type: string; uuid: string; roothash?: string; usrhash?: string }[];
      };
      const partitions = meta.partitions ?? [];
      const root = partitions.find((part) => part.roothash && part.roothash !== "TBD");
      const usr = partitions.find((part) => part.usrhash && part.usrhash !== "TBD");
      return {
        meta: {
          roothash: root?.roothash
            ? `roothash=${root.roothash}`
            : usr?.usrhash
              ? `usrhash=${usr.usrhash}`
              : null,
          partitions: partitions.map((part) => ({ type: part.type, uuid: part.uuid })),
        },
      };
    },
  },
  reads: [],
  layer: false,
  wanted: (image) => formatOf(image.Format).steps(image).includes("roothash"),
  params: ({ nodes }) => ({ first: nodes["repart-root"]! }),
};

export const repartStep: Step<RepartParams> = {
  name: "repart",
  task,
  reads: REPART_READS,
  unkeyed: REPART_UNKEYED,
  layer: false,
  wanted: (image) => formatOf(image.Format).steps(image).includes("repart"),
  params: (context: StepPlanContext) => {
    const { image, env, nodes, tools } = context;
    const needs = repartNeeds(image);
    checkTools(context, needs);
    const top = imageBelow(context, "repart");
    const twoPass = formatOf(image.Format).steps(image).includes("repart-root");
    const pass = twoPass ? (nodes["repart-root"] ? "esp" : "root") : "all";
    const esp =
      pass === "root"
        ? []
        : ["bootloader", "uki"].map((step) => nodes[step]).filter((id): id is NodeId => !!id);
    const bootable = esp.length > 0 || pass === "root";
    const biosBoot = bootable && image.BiosBootloader === "grub";
    const definitions = (image.RepartDirectories as string[] | undefined) ?? [];
    return {
      naming: { ...outputNaming(image), CompressLevel: image.CompressLevel },
      image: top,
      esp,
      definitions,
      defaults:
        definitions.length > 0
          ? null
          : {
              Distribution: image.Distribution,
              Esp: bootable,
              BiosBoot: biosBoot,
              RootFilesystem: formatOf(image.Format).rootFilesystem ?? null,
              EspOnly: formatOf(image.Format).espOnly === true,
            },
      configDir: env.configDir,
      seed: env.randomSeed !== undefined && image.Seed === env.randomSeed ? null : image.Seed,
      randomSeed: image.Seed,
      sectorSize: (image.SectorSize as number | null) ?? null,
      // The first pass writes neither (the last pass does): a change of them leaves it cached.
      splitPartitions: pass !== "root" && splitArtifacts(image).includes("partitions"),
      splitRoothash: pass !== "root" && splitArtifacts(image).includes("roothash"),
      sourceDateEpoch: image.SourceDateEpoch,
      passphrase: (image.Passphrase as string | null) ?? null,
      verityKey: (image.VerityKey as string | null) ?? null,
      verityCertificate: (image.VerityCertificate as string | null) ?? null,
      verity: String(image.Verity ?? "auto"),
      extension: formatOf(image.Format).extensionKind
        ? {
            kind: formatOf(image.Format).extensionKind!,
            ImageId: image.ImageId,
            ImageVersion: image.ImageVersion,
            Architecture: image.Architecture,
          }
        : null,
      base: image.Overlay === true ? (nodes["base-trees"] ?? null) : null,
      settings: {
        Format: image.Format,
        Output: image.Output,
        OutputExtension: image.OutputExtension,
        CompressOutput: image.CompressOutput,
        CompressLevel: image.CompressLevel,
        Distribution: image.Distribution,
        BiosBootloader: (image.BiosBootloader as Json | undefined) ?? null,
        SectorSize: (image.SectorSize as Json | undefined) ?? null,
        SourceDateEpoch: image.SourceDateEpoch,
        Verity: (image.Verity as Json | undefined) ?? null,
        ImageId: image.ImageId,
        ImageVersion: image.ImageVersion,
        Architecture: image.Architecture,
        Overlay: (image.Overlay as Json | undefined) ?? null,
      },
      pass,
      first: pass === "esp" ? nodes["repart-root"]! : null,
      tools,
      needs,
    };
  },
};
