// Configuration files mkosi writes into the image after the post-installation scripts: os-release
// (IMAGE_ID/IMAGE_VERSION), the machine id, autologin drop-ins, initrd markers (MakeInitrd=) and the
// clock epoch. Cheap and deterministic: one layer.

import { lstat, mkdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { NodeId, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import { pathExists } from "../fsutil.js";
import { withLayer } from "../layers.js";
import { imageBelow, type Step } from "../step.js";

interface Params {
  imageId: string | null;
  imageVersion: string | null;
  machineId: string | null;
  autologin: boolean;
  makeInitrd: boolean;
  prev: NodeId;
}

/** Replace or append KEY=value lines in an os-release file. */
export function editOsRelease(text: string, values: Record<string, string>): string {
  const lines = text.split("\n").filter((line, index, all) => index < all.length - 1 || line !== "");
  for (const [key, value] of Object.entries(values)) {
    const line = `${key}="${value.replace(/(["\\$`])/g, "\\$1")}"`;
    const at = lines.findIndex((l) => l.startsWith(`${key}=`));
    if (at >= 0) lines[at] = line;
    else lines.push(line);
  }
  return `${lines.join("\n")}\n`;
}

async function configureOsRelease(root: string, p: Params): Promise<void> {
  const values: Record<string, string> = {};
  if (p.imageId) values.IMAGE_ID = p.imageId;
  if (p.imageVersion) values.IMAGE_VERSION = p.imageVersion;
  if (Object.keys(values).length === 0) return;
  const path = join(root, "usr/lib/os-release");
  if (!(await pathExists(path))) return;
  // os-release in Debian is a regular file in /usr/lib; never write through a symlink out of the image.
  const info = await lstat(path);
  if (info.isSymbolicLink()) throw new Error(`${path} is a symlink (${await readlink(path)})`);
  await writeFile(path, editOsRelease(await readFile(path, "utf8"), values));
}

const AUTOLOGIN_UNITS: Record<string, string> = {
  "console-getty.service": "console",
  "getty@tty1.service": "%I",
  "serial-getty@hvc0.service": "%I",
  "container-getty@0.service": "pts/%I",
};

async function configureAutologin(root: string): Promise<void> {
  for (const [unit, tty] of Object.entries(AUTOLOGIN_UNITS)) {
    const template = unit.replace(/@[^.]+\./, "@.");
    const dir = join(root, "etc/systemd/system", `${unit}.d`);
    await mkdir(dir, { recursive: true });
    const speed = unit.startsWith("serial-getty") ? "--keep-baud 115200,57600,38400,9600" : "--noclear";
    await writeFile(
      join(dir, "autologin.conf"),
      [
        "[Service]",
        "ExecStart=",
        `ExecStart=-/sbin/agetty -o '-f -p -- \\\\u' --autologin root ${speed} ${tty} $TERM`,
        "StandardInput=tty",
        "StandardOutput=tty",
        `# Drop-in for ${template} written by mkosi (Autologin=yes)`,
        "",
      ].join("\n"),
    );
  }
}

async function configureInitrd(root: string): Promise<void> {
  const init = join(root, "init");
  if (!(await pathExists(init))) await symlink("/usr/lib/systemd/systemd", init);
  const release = join(root, "etc/initrd-release");
  if (!(await pathExists(release))) {
    await mkdir(dirname(release), { recursive: true });
    await symlink("/etc/os-release", release);
  }
}

const task: TaskDefinition<Params> = {
  name: "config-files",
  implementation: implementationDigest(import.meta.url),
  inputs: (p) => ({
    values: {
      ImageId: p.imageId,
      ImageVersion: p.imageVersion,
      MachineId: p.machineId,
      Autologin: p.autologin,
      MakeInitrd: p.makeInitrd,
    },
    deps: { image: p.prev },
  }),
  async run(ctx, p) {
    return withLayer(ctx, ctx.deps.image, async ({ root }) => {
      await configureOsRelease(root, p);
      const machineId = join(root, "etc/machine-id");
      if (p.machineId) {
        await mkdir(dirname(machineId), { recursive: true });
        await writeFile(machineId, `${p.machineId.replace(/-/g, "")}\n`);
      }
      if (p.autologin) await configureAutologin(root);
      if (p.makeInitrd) await configureInitrd(root);
      // systemd uses the newest of this file's mtime and its build time as the earliest valid clock.
      const clockEpoch = join(root, "usr/lib/clock-epoch");
      if (await pathExists(join(root, "usr/lib"))) {
        await rm(clockEpoch, { force: true });
        await writeFile(clockEpoch, "");
      }
      return undefined;
    });
  },
};

export const configFiles: Step<Params> = {
  name: "config-files",
  task,
  reads: ["ImageId", "ImageVersion", "MachineId", "Autologin", "MakeInitrd"],
  layer: true,
  wanted: () => true,
  params: (context) => {
    const { image } = context;
    const prev = imageBelow(context, "config-files");
    return {
      imageId: image.ImageId,
      imageVersion: image.ImageVersion,
      machineId: image.MachineId,
      autologin: image.Autologin,
      makeInitrd: image.MakeInitrd,
      prev,
    };
  },
};
