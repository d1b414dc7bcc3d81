// Format=oci: an OCI image layout directory (one layer: the image as a tar).
import { type FormatDescriptor, tailSteps } from "../descriptor.js";

export const oci: FormatDescriptor = {
  name: "oci",
  extension: "",
  compression: "gz",
  outerCompression: false,
  kind: "tree",
  buildOnly: false,
  keepsPackageMetadata: false,
  tools: ["tar", "gzip", "zstd"],
  settings: ["KernelCommandLine", "ImageVersion", "Architecture"],
  steps: (config) => tailSteps(config, { output: true, checksum: true }),
  producer: async () => (await import("../oci.js")).produceOci,
};
