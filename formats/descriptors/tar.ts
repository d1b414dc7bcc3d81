// Format=tar: `<Output>.tar[.<comp>]`, the image as a tar archive streamed through the compressor.
import { type FormatDescriptor, tailSteps } from "../descriptor.js";

export const tar: FormatDescriptor = {
  name: "tar",
  extension: "tar",
  compression: "zstd",
  outerCompression: true,
  kind: "file",
  buildOnly: false,
  keepsPackageMetadata: true,
  tools: ["tar", "zstd", "xz", "gzip"],
  steps: (config) => tailSteps(config, { output: true, checksum: true }),
  producer: async () => (await import("../produce.js")).produceTar,
};
