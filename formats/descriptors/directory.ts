// Format=directory: the finished image tree itself, placed in the output directory by publish (updated
// in place from the layers that changed, see tasks/outputtree.ts). No extension, never compressed.
import { type FormatDescriptor, tailSteps } from "../descriptor.js";

export const directory: FormatDescriptor = {
  name: "directory",
  extension: "",
  compression: "none",
  outerCompression: false,
  kind: "tree",
  buildOnly: false,
  keepsPackageMetadata: true,
  tools: [],
  // The pipeline places the tree in publish (no output step); buildOutputs uses the producer.
  steps: (config) => tailSteps(config, { output: false, checksum: false }),
  producer: async () => (await import("../produce.js")).produceDirectory,
};
