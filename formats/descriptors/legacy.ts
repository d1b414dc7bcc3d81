// The output formats of mkosi's first README (2017), accepted as deprecated aliases: raw_ext4,
// raw_btrfs, raw_xfs and raw_squashfs plan the equivalent Format=disk (a root partition of that
// filesystem, squashfs read-only); subvolume plans Format=directory (images here are overlay layers, so
// there is no btrfs subvolume to make). config/ warns once, naming the modern settings.
import type { FormatDescriptor } from "../descriptor.js";
import { directory } from "./directory.js";
import { disk } from "./disk.js";

function rawDisk(filesystem: string): FormatDescriptor {
  return { ...disk, rootFilesystem: filesystem };
}

export const LEGACY_FORMAT_NAMES = ["raw_ext4", "raw_btrfs", "raw_xfs", "raw_squashfs", "subvolume"] as const;

export const LEGACY_FORMATS: Readonly<
  Record<string, { descriptor: FormatDescriptor; hint: string }> &
    Record<(typeof LEGACY_FORMAT_NAMES)[number], { descriptor: FormatDescriptor; hint: string }>
> = {
  raw_ext4: {
    descriptor: rawDisk("ext4"),
    hint: "Format=raw_ext4 is deprecated: use Format=disk (the root partition is ext4 on Debian; other filesystems through a mkosi.repart/ definition with Format=)",
  },
  raw_btrfs: {
    descriptor: rawDisk("btrfs"),
    hint: "Format=raw_btrfs is deprecated: use Format=disk with a mkosi.repart/ root definition (Type=root, Format=btrfs, CopyFiles=/)",
  },
  raw_xfs: {
    descriptor: rawDisk("xfs"),
    hint: "Format=raw_xfs is deprecated: use Format=disk with a mkosi.repart/ root definition (Type=root, Format=xfs, CopyFiles=/)",
  },
  raw_squashfs: {
    descriptor: rawDisk("squashfs"),
    hint: "Format=raw_squashfs is deprecated: use Format=disk with a mkosi.repart/ root definition (Type=root, Format=squashfs, CopyFiles=/), or Format=portable/sysext",
  },
  subvolume: {
    descriptor: directory,
    hint: "Format=subvolume is deprecated: use Format=directory (with UseSubvolumes=yes where a btrfs subvolume is wanted); building a directory",
  },
};
