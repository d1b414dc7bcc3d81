// Format=esp: a disk image holding only an EFI system partition with the image's UKI.
import { bootSteps, splitSteps } from "../boot.js";
import { type FormatDescriptor, tailSteps } from "../descriptor.js";

export const esp: FormatDescriptor = {
  name: "esp",
  extension: "raw",
  compression: "zstd",
  outerCompression: false,
  kind: "file",
  espOnly: true,
  buildOnly: false,
  keepsPackageMetadata: false,
  tools: ["systemd-repart", "ukify"],
  steps: (config) => [
    ...bootSteps(config),
    ...(splitSteps(config).length > 0 ? ["split"] : []),
    "repart",
    ...tailSteps(config, { output: false, checksum: true }),
  ],
};
