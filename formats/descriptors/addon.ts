// Format=addon: a PE addon (ukify with the addon stub) carrying the kernel command line and the image as
// an initrd (tasks/steps/addon.ts).
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
  steps: (config) => ["addon", ...tailSteps(config, { output: false, checksum: true })],
};
