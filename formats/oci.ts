// Format=oci: an OCI image layout directory (`<Output>/`: oci-layout, index.json, blobs/sha256/…) with
// one layer, the image as a tar (compressed: gzip by default, zstd allowed), and an image config whose
// command is /sbin/init with KernelCommandLine=. With SourceDateEpoch= the creation time is that epoch,
// so the layout is reproducible; without, it is the time of the build (as upstream).
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { compressFile } from "./compress.js";
import { normalizeCompression, outputNames } from "./naming.js";
import type { Producer } from "./produce.js";
import { makeTar } from "./tar.js";
import { FormatError } from "./types.js";

const MEDIA = {
  layout: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
};

/** OCI architecture names of mkosi's. */
const OCI_ARCH: Record<string, string> = {
  "x86-64": "amd64",
  x86: "386",
  arm64: "arm64",
  arm: "arm",
  ppc64: "ppc64",
  "ppc64-le": "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  loongarch64: "loong64",
};

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Writes `text` as a blob; returns its descriptor fields. */
async function blob(blobs: string, text: string): Promise<{ digest: string; size: number }> {
  const hex = createHash("sha256").update(text).digest("hex");
  await writeFile(join(blobs, hex), text);
  return { digest: `sha256:${hex}`, size: Buffer.byteLength(text) };
}

export interface OciOptions {
  KernelCommandLine?: string[] | null;
  ImageVersion?: string | null;
}

export const produceOci: Producer = async (ctx) => {
  const cfg = ctx.config as typeof ctx.config & OciOptions;
  const names = outputNames(cfg);
  const compression = normalizeCompression(cfg.CompressOutput ?? "gz");
  if (compression !== "gz" && compression !== "zstd" && compression !== "none")
    throw new FormatError(`Format=oci supports CompressOutput=gz or zstd, not ${compression}`);
  const layout = join(ctx.staging, names.output);
  const blobs = join(layout, "blobs/sha256");
  await mkdir(blobs, { recursive: true });
  // The layer: its diff id is the digest of the uncompressed tar, its blob the compressed one.
  const tar = join(ctx.tmp ?? ctx.staging, ".oci-layer.tar");
  await makeTar(ctx.root, tar, { sourceDateEpoch: cfg.SourceDateEpoch, signal: ctx.signal, env: ctx.env });
  const diffId = await sha256File(tar);
  const packed = `${tar}.packed`;
  await compressFile(tar, packed, compression, {
    level: cfg.CompressLevel,
    signal: ctx.signal,
    env: ctx.env,
  });
  const layerHex = await sha256File(packed);
  const layerSize = (await stat(packed)).size;
  await rename(packed, join(blobs, layerHex));
  await rm(tar, { force: true });
  const created = new Date(
    cfg.SourceDateEpoch !== null && cfg.SourceDateEpoch !== undefined
      ? cfg.SourceDateEpoch * 1000
      : Date.now(),
  ).toISOString();
  const architecture = OCI_ARCH[cfg.Architecture ?? "x86-64"] ?? cfg.Architecture ?? "amd64";
  const config = await blob(
    blobs,
    JSON.stringify({
      created,
      architecture,
      os: "linux",
      rootfs: { type: "layers", diff_ids: [`sha256:${diffId}`] },
      config: { Cmd: ["/sbin/init", ...(cfg.KernelCommandLine ?? [])] },
      history: [{ created, comment: "Built with mkosi" }],
    }),
  );
  const layerType =
    compression === "gz"
      ? "application/vnd.oci.image.layer.v1.tar+gzip"
      : compression === "zstd"
        ? "application/vnd.oci.image.layer.v1.tar+zstd"
        : "application/vnd.oci.image.layer.v1.tar";
  const annotations: Record<string, string> = { "io.systemd.mkosi.version": "26~devel" };
  if (cfg.ImageVersion) annotations["org.opencontainers.image.version"] = cfg.ImageVersion;
  const manifest = await blob(
    blobs,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: { mediaType: MEDIA.config, ...config },
      layers: [{ mediaType: layerType, digest: `sha256:${layerHex}`, size: layerSize }],
      annotations,
    }),
  );
  await writeFile(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.layout,
      manifests: [{ mediaType: MEDIA.manifest, ...manifest }],
    }),
  );
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  return { main: names.output, files: [names.output] };
};
