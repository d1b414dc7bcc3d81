// Format=uki: a unified kernel image (ukify) whose initrd is the whole image.
import { bootSteps } from "../boot.js";
import { type FormatDescriptor, tailSteps } from "../descriptor.js";

export const uki: FormatDescriptor = {
  name: "uki",
  extension: "efi",
  compression: "zstd",
  outerCompression: false,
  kind: "file",
  buildOnly: false,
  keepsPackageMetadata: false,
  tools: ["ukify"],
  steps: (config) => [...bootSteps(config), "split", ...tailSteps(config, { output: false, checksum: true })],
};
