// What travels with an artifact: the OCI manifest (named by a tag derived from the key) and its config
// blob, the node record: the full input record (signature) the key is the hash of, the output record
// (digest, tree fingerprint, metadata, retained artifacts), the digests of the retained artifacts, and the
// directory manifests the signature's trees refer to, so that explain can list the files that changed on
// a machine that never saw those trees. A record is checked against its key when it is read: its
// signature must hash to the key it is filed under.
import { createRequire } from "node:module";
import type * as Z from "zod";
import type { Json } from "../api.js";
import type { DirManifest, OutputRecord, SignatureRecord, Store } from "../store.js";
import { schemas } from "../store.js";

export const RECORD_MEDIA_TYPE = "application/vnd.mkosi-ts.node.v1+json";
export const ARTIFACT_MEDIA_TYPE = "application/vnd.mkosi-ts.artifact.v1.tar+zstd";
export const ARTIFACT_TYPE = "application/vnd.mkosi-ts.node.v1";
export const RECORD_VERSION = 1;
/** Directory manifests beyond this many entries in total are left out (explain then says less). */
const MANIFEST_ENTRIES_MAX = 200_000;

export interface NodeRecord {
  version: 1;
  key: string;
  /** Caches of different flavours (privileged, unprivileged) never share entries. */
  flavour: string;
  signature: SignatureRecord;
  output: OutputRecord;
  /** Digest of each retained artifact, by key. */
  retained: Record<string, string>;
  manifests: [string, DirManifest][];
}

export interface BlobRef {
  mediaType: string;
  digest: string;
  size: number;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: BlobRef;
  layers: BlobRef[];
  annotations?: Record<string, string>;
}

function buildSchemas(z: typeof Z) {
  const s = schemas();
  const blob = z.object({
    mediaType: z.string(),
    digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
    size: z.number().int().nonnegative(),
  });
  return {
    record: z.object({
      version: z.literal(RECORD_VERSION),
      key: z.string().regex(/^[0-9a-f]{64}$/),
      flavour: z.string(),
      signature: s.signature,
      output: s.output,
      retained: z.record(z.string(), z.string()),
      manifests: z.array(z.tuple([z.string(), s.dir])),
    }),
    manifest: z.object({
      schemaVersion: z.literal(2),
      mediaType: z.string().optional(),
      artifactType: z.string().optional(),
      config: blob,
      layers: z.array(blob),
      annotations: z.record(z.string(), z.string()).optional(),
    }),
  };
}

let cache: ReturnType<typeof buildSchemas> | undefined;
function recordSchemas() {
  cache ??= buildSchemas(createRequire(import.meta.url)("zod") as typeof Z);
  return cache;
}

export class InvalidRecord extends Error {
  override name = "InvalidRecord";
}

export function parseRecord(body: Buffer): NodeRecord {
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch {
    throw new InvalidRecord("node record is not JSON");
  }
  const r = recordSchemas().record.safeParse(v);
  if (!r.success) throw new InvalidRecord(`node record: ${r.error.issues[0]?.message ?? "invalid"}`);
  return r.data as NodeRecord;
}

/** The manifest, if it is one of ours: a record config and one artifact layer. */
export function parseManifest(body: Buffer): Manifest & { layers: [BlobRef] } {
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch {
    throw new InvalidRecord("manifest is not JSON");
  }
  const r = recordSchemas().manifest.safeParse(v);
  if (!r.success) throw new InvalidRecord(`manifest: ${r.error.issues[0]?.message ?? "invalid"}`);
  const m = r.data as Manifest;
  if (m.config.mediaType !== RECORD_MEDIA_TYPE)
    throw new InvalidRecord(`manifest's config is ${m.config.mediaType}, not a node record`);
  if (m.layers.length !== 1 || m.layers[0]!.mediaType !== ARTIFACT_MEDIA_TYPE)
    throw new InvalidRecord("manifest does not have exactly one artifact layer");
  return m as Manifest & { layers: [BlobRef] };
}

/** The directory manifests a signature's trees reach (bounded), from the local index. */
export function reachableManifests(store: Store, sig: SignatureRecord): [string, DirManifest][] {
  const out: [string, DirManifest][] = [];
  const seen = new Set<string>();
  let entries = 0;
  const visit = (digest: string): boolean => {
    if (seen.has(digest)) return true;
    seen.add(digest);
    const m = store.getDir(digest);
    if (!m) return true;
    entries += m.length;
    if (entries > MANIFEST_ENTRIES_MAX) return false;
    out.push([digest, m]);
    for (const [, fp] of m) if (fp.startsWith("d ") && !visit(fp.split(" ")[3]!)) return false;
    return true;
  };
  for (const p of Object.values(sig.paths)) {
    if (p.fp.startsWith("D ") && !visit(p.fp.slice(2))) return [];
  }
  return out;
}

export function manifestFor(
  record: NodeRecord,
  config: { digest: string; size: number },
  layer: { digest: string; size: number },
): Buffer {
  const m: Manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: ARTIFACT_TYPE,
    config: { mediaType: RECORD_MEDIA_TYPE, ...config },
    layers: [{ mediaType: ARTIFACT_MEDIA_TYPE, ...layer }],
    annotations: {
      "dev.mkosi-ts.key": record.key,
      "dev.mkosi-ts.node": record.output.nodeId,
      "dev.mkosi-ts.task": record.output.task,
      "dev.mkosi-ts.unpacked-bytes": String(record.output.bytes),
    },
  };
  return Buffer.from(JSON.stringify(m));
}

export type { Json };
