// Format=esp: a disk image holding only an EFI system partition with the image's UKI.
import { type FormatDescriptor, tailSteps } from "../descriptor.js";

export const esp: FormatDescriptor = {
  name: "esp",
  extension: "raw",
  compression: "zstd",
  outerCompression: false,
  kind: "file",
  buildOnly: false,
  keepsPackageMetadata: false,
  tools: ["systemd-repart", "ukify"],
  steps: (config) => tailSteps(config, { output: true, checksum: true }),
  unsupported: "Format=esp is not supported yet",
};
