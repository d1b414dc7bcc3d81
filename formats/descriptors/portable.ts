// Format=portable: an extension image (systemd-repart with mkosi's portable definitions).
import { type FormatDescriptor, tailSteps } from "../descriptor.js";

export const portable: FormatDescriptor = {
  name: "portable",
  extension: "raw",
  compression: "none",
  outerCompression: true,
  kind: "file",
  extensionKind: "portable",
  buildOnly: false,
  keepsPackageMetadata: false,
  tools: ["systemd-repart"],
  steps: (config) => ["repart", ...tailSteps(config, { output: false, checksum: true })],
};
