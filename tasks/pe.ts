// The sections of a PE binary (a UKI, a stub, a signed boot loader), read from its section table: what
// Bootloader=*-signed needs to split a pre-built UKI into <Output>.vmlinuz and <Output>.initrd.

/** The sections in their order, repeated names included (multi-profile UKIs): name → content (the
 * section's virtual size of its raw data, without the file alignment's padding). */
export function peSectionList(data: Buffer, what = "the file"): [string, Buffer][] {
  if (data.length < 0x40 || data.toString("latin1", 0, 2) !== "MZ")
    throw new Error(`${what}: not a PE binary`);
  const pe = data.readUInt32LE(0x3c);
  if (pe + 24 > data.length || data.toString("latin1", pe, pe + 4) !== "PE\0\0")
    throw new Error(`${what}: no PE header`);
  const sections = data.readUInt16LE(pe + 6);
  const optional = data.readUInt16LE(pe + 20);
  const table = pe + 24 + optional;
  const out: [string, Buffer][] = [];
  for (let i = 0; i < sections; i++) {
    const at = table + i * 40;
    if (at + 40 > data.length) throw new Error(`${what}: its section table is cut short`);
    const name = data.toString("latin1", at, at + 8).replace(/\0+$/, "");
    const virtualSize = data.readUInt32LE(at + 8);
    const rawSize = data.readUInt32LE(at + 16);
    const rawOffset = data.readUInt32LE(at + 20);
    out.push([name, data.subarray(rawOffset, rawOffset + Math.min(rawSize, virtualSize || rawSize))]);
  }
  return out;
}

/** The first section of that name, or undefined. */
export function peSection(data: Buffer, name: string, what?: string): Buffer | undefined {
  return peSectionList(data, what).find(([n]) => n === name)?.[1];
}
