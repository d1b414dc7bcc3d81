// Distribution=custom: no package manager; the root comes from base trees, skeleton trees and prepare
// scripts.
import type { CustomDistribution } from "./types.js";

export const custom: CustomDistribution = {
  name: "custom",
  prettyName: "Custom",
  packageManager: "none",
  defaultRelease: "",
  filesystem: "ext4",
  toolsTreeDistribution: "custom",
  // Any architecture: nothing is installed, so nothing has to match.
  architectures: {},
};
