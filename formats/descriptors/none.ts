// Format=none: the image exists only to run its build scripts (typically to produce packages for later
// images). The build stops after them; nothing is written to the output directory and the outputs of a
// previous build are left alone.
import type { FormatDescriptor } from "../descriptor.js";

export const none: FormatDescriptor = {
  name: "none",
  extension: "",
  compression: "none",
  outerCompression: false,
  kind: "none",
  buildOnly: true,
  keepsPackageMetadata: false,
  tools: [],
  steps: () => [],
};
