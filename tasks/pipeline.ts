// The execution flow, in order. The planner instantiates each wanted step per image; layered steps stack
// on the previous layer.

import type { AnyStep } from "./step.js";
import { baseTrees } from "./steps/base-trees.js";
import { configFiles } from "./steps/config-files.js";
import { extras } from "./steps/extras.js";
import { skeleton } from "./steps/skeleton.js";
import { systemdSetup } from "./steps/systemd-setup.js";

export const PIPELINE: readonly AnyStep[] = [baseTrees, skeleton, extras, configFiles, systemdSetup];
