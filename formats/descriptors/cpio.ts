// Format=cpio: `<Output>.cpio[.<comp>]` (newc, as an initramfs wants it).
import { type FormatDescriptor, tailSteps } from "../descriptor.js";

export const cpio: FormatDescriptor = {
  name: "cpio",
  extension: "cpio",
  compression: "zstd",
  outerCompression: true,
  kind: "file",
  buildOnly: false,
  keepsPackageMetadata: false,
  tools: ["cpio", "zstd", "xz", "gzip"],
  steps: (config) => tailSteps(config, { output: true, checksum: true }),
  producer: async () => (await import("../produce.js")).produceCpioCopy,
};
