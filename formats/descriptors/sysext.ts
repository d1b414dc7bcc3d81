// Format=sysext: an extension image (systemd-repart with mkosi's sysext definitions).
import { type FormatDescriptor, tailSteps } from "../descriptor.js";

export const sysext: FormatDescriptor = {
  name: "sysext",
  extension: "raw",
  compression: "none",
  outerCompression: true,
  kind: "file",
  extensionKind: "sysext",
  buildOnly: false,
  keepsPackageMetadata: false,
  tools: ["systemd-repart"],
  steps: (config) => ["repart", ...tailSteps(config, { output: false, checksum: true })],
};
