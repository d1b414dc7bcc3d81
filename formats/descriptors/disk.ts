// Format=disk: a GPT disk image made by systemd-repart from mkosi.repart/ (or mkosi's default
// definitions), `<Output>.raw[.<comp>]`.
import { type FormatDescriptor, tailSteps } from "../descriptor.js";

export const disk: FormatDescriptor = {
  name: "disk",
  extension: "raw",
  compression: "none",
  outerCompression: true,
  kind: "file",
  buildOnly: false,
  keepsPackageMetadata: false,
  tools: ["systemd-repart"],
  steps: (config) => ["repart", ...tailSteps(config, { output: false, checksum: true })],
};
