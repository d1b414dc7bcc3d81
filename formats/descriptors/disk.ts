// Format=disk: a GPT disk image made by systemd-repart from mkosi.repart/ (or mkosi's default
// definitions), `<Output>.raw[.<comp>]`.
import { bootSteps, splitSteps } from "../boot.js";
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
  steps: (config) => [
    ...bootSteps(config),
    ...(splitSteps(config).length > 0 ? ["split"] : []),
    "repart",
    ...tailSteps(config, { output: false, checksum: true }),
  ],
};
