// The execution flow, in order. The planner instantiates each wanted step per image; layered steps stack
// on the previous layer.

import type { AnyStep } from "./step.js";
import { addonStep } from "./steps/addon.js";
import { baseTrees } from "./steps/base-trees.js";
import { bootScan } from "./steps/boot-scan.js";
import { bootloaderStep } from "./steps/bootloader.js";
import { cleanup } from "./steps/cleanup.js";
import { configFiles } from "./steps/config-files.js";
import { extras } from "./steps/extras.js";
import { bootstrap, packages, volatilePackages } from "./steps/install.js";
import { kernel } from "./steps/kernel.js";
import { metadata } from "./steps/metadata.js";
import { checksum, manifest, output } from "./steps/output.js";
import { publish } from "./steps/publish.js";
import { repartRootStep, repartStep, roothashStep } from "./steps/repart.js";
import { build, buildOverlay, finalize, postinst, prepare } from "./steps/scripts.js";
import { skeleton } from "./steps/skeleton.js";
import { split } from "./steps/split.js";
import { splitRoot } from "./steps/split-root.js";
import { systemdSetup } from "./steps/systemd-setup.js";
import { ukiStep } from "./steps/uki.js";

export const PIPELINE: readonly AnyStep[] = [
  metadata,
  baseTrees,
  skeleton,
  bootstrap,
  packages,
  prepare,
  buildOverlay,
  build,
  volatilePackages,
  extras,
  postinst,
  configFiles,
  systemdSetup,
  cleanup,
  finalize,
  bootScan,
  kernel,
  bootloaderStep,
  repartRootStep,
  roothashStep,
  ukiStep,
  split,
  repartStep,
  addonStep,
  output,
  splitRoot,
  checksum,
  manifest,
  publish,
];
