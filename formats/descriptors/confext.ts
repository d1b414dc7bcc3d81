// Format=confext: an extension image (systemd-repart with mkosi's confext definitions).
import { type FormatDescriptor, tailSteps } from "../descriptor.js";

export const confext: FormatDescriptor = {
  name: "confext",
  extension: "raw",
  compression: "none",
  outerCompression: true,
  kind: "file",
  extensionKind: "confext",
  buildOnly: false,
  keepsPackageMetadata: false,
  tools: ["systemd-repart"],
  steps: (config) => ["repart", ...tailSteps(config, { output: false, checksum: true })],
};
