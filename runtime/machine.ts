// What a runtime verb runs: the main image (the last one of the configuration) and its output, with the
// settings of its [Runtime] section read through one typed view.
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import type { ImageView } from "../tasks/image.js";
import { outputPaths } from "../tasks/outputs.js";

export type Drive = ImageView["Drives"][number];

/** The settings the runtime verbs read: the image's configuration, typed by the settings table. */
export type RuntimeSettings = ImageView;

export interface Machine {
  image: ImageView;
  runtime: RuntimeSettings;
  /** The -C directory. */
  configDir: string;
  /** The main output's path (a directory, a disk image, an archive…). */
  output: string;
  /** The output directory holding it and its split artifacts. */
  outputDir: string;
  /** Machine=, else the image's name. */
  name: string;
}

export function machineOf(image: ImageView, configDir: string): Machine {
  const [output] = outputPaths(image, configDir);
  const runtime: RuntimeSettings = image;
  return {
    image,
    runtime,
    configDir,
    output: output ?? "",
    outputDir: image.OutputDirectory ?? configDir,
    name: runtime.Machine ?? image.Image,
  };
}

/** Is the image's output there to run? */
export function outputExists(machine: Machine): boolean {
  return machine.output !== "" && existsSync(machine.output);
}

/** Output formats that are GPT disk images (a container or VM gets them as a disk). A `uki` output is an
 * EFI binary, which a VM boots through OVMF as its kernel. */
export const DISK_FORMATS = new Set(["disk", "esp"]);

/** The host's time zone, as firstboot wants it (e.g. "Europe/Berlin"), if it can be told. */
export function hostTimezone(): string | null {
  try {
    const link = readlinkSync("/etc/localtime");
    const match = /zoneinfo\/(.+)$/.exec(link);
    if (match?.[1]) return match[1];
  } catch {
    // not a link
  }
  try {
    const text = readFileSync("/etc/timezone", "utf8").trim();
    return text || null;
  } catch {
    return null;
  }
}

/** The split artifact `<output base>.<suffix>` next to the main output, if it was produced. */
export function splitArtifact(machine: Machine, suffix: string): string | null {
  const path = join(machine.outputDir, `${machine.image.Output}.${suffix}`);
  return existsSync(path) ? path : null;
}
