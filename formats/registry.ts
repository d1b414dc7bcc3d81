// The output format registry: Format= value → its descriptor (descriptors/, one module per format).
// Everything that depends on the format asks here; descriptors are plain data and load their producer
// only when it runs.
import type { FormatDescriptor } from "./descriptor.js";
import { addon } from "./descriptors/addon.js";
import { confext } from "./descriptors/confext.js";
import { cpio } from "./descriptors/cpio.js";
import { directory } from "./descriptors/directory.js";
import { disk } from "./descriptors/disk.js";
import { esp } from "./descriptors/esp.js";
import { LEGACY_FORMAT_NAMES, LEGACY_FORMATS } from "./descriptors/legacy.js";
import { none } from "./descriptors/none.js";
import { oci } from "./descriptors/oci.js";
import { portable } from "./descriptors/portable.js";
import { sysext } from "./descriptors/sysext.js";
import { tar } from "./descriptors/tar.js";
import { uki } from "./descriptors/uki.js";
import { FORMATS, FormatError, type FormatName } from "./types.js";

export const REGISTRY: Readonly<Record<FormatName, FormatDescriptor>> = {
  directory,
  tar,
  cpio,
  none,
  disk,
  uki,
  esp,
  oci,
  sysext,
  confext,
  portable,
  addon,
};

/** The descriptor of a Format= value (a deprecated 2017 name included); throws FormatError for an
 * unknown one. */
export function formatOf(format: string): FormatDescriptor {
  const descriptor =
    (REGISTRY as Record<string, FormatDescriptor | undefined>)[format] ?? LEGACY_FORMATS[format]?.descriptor;
  if (!descriptor) throw new FormatError(`Unknown Format=${format} (expected one of: ${FORMATS.join(", ")})`);
  return descriptor;
}

export { LEGACY_FORMAT_NAMES, LEGACY_FORMATS };
