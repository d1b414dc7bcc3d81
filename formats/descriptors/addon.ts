// Format=addon: a PE addon (ukify with the addon stub) carrying a kernel command line and optionally
// the image as an initrd.
import { type FormatDescriptor, tailSteps } from "../descriptor.js";

export const addon: FormatDescriptor = {
  name: "addon",
  extension: "efi",
  compression: "zstd",
  outerCompression: false,
  kind: "file",
  buildOnly: false,
  keepsPackageMetadata: false,
  tools: ["ukify"],
  steps: (config) => tailSteps(config, { output: true, checksum: true }),
  unsupported: "Format=addon is not supported yet",
};
