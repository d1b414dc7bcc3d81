// systemd-repart's JSON output (--json=pretty): the partitions it wrote, validated with zod. Apart from
// repart.ts so that planning (which reads repart.ts's definitions) does not load zod.
import { z } from "zod";
import { FormatError } from "./types.js";

const PartitionSchema = z
  .object({
    type: z.string(),
    label: z.string().nullish(),
    // Deferred partitions (--defer-partitions=) are listed without a UUID or number.
    uuid: z
      .string()
      .nullish()
      .transform((v) => v ?? ""),
    partno: z
      .number()
      .nullish()
      .transform((v) => v ?? -1),
    file: z.string().nullish(),
    offset: z.number().nullish(),
    raw_size: z.number().nullish(),
    roothash: z.string().nullish(),
    usrhash: z.string().nullish(),
    split_path: z.string().nullish(),
    activity: z.string().nullish(),
  })
  .passthrough();

export type RepartPartition = z.infer<typeof PartitionSchema>;

/** The partitions systemd-repart printed with --json=pretty. */
export function parseRepartJson(text: string): RepartPartition[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FormatError(`systemd-repart printed no valid JSON: ${(err as Error).message}`);
  }
  const parsed = z.array(PartitionSchema).safeParse(value);
  if (!parsed.success)
    throw new FormatError(
      `unexpected systemd-repart JSON (${parsed.error.message}):\n${text.slice(0, 2000)}`,
    );
  return parsed.data;
}

/** The verity root hash of the disk (root or /usr), if repart made one. */
export function rootHash(
  partitions: RepartPartition[],
): { kind: "roothash" | "usrhash"; hash: string } | undefined {
  for (const p of partitions) {
    if (p.roothash && p.roothash !== "TBD") return { kind: "roothash", hash: p.roothash };
    if (p.usrhash && p.usrhash !== "TBD") return { kind: "usrhash", hash: p.usrhash };
  }
  return undefined;
}
