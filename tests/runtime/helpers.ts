// Shared by the runtime verb tests: one small bookworm directory image per suite, built once (through the
// shared package cache), and runs of bin/mkosi with a private engine cache.
import { spawn } from "node:child_process";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { MKOSI, makeTree, PACKAGE_CACHE, runMkosi } from "../pipeline/harness.js";

export { MKOSI, PACKAGE_CACHE, runMkosi };

/** A unit that waits for the boot to finish, writes the manager's state to the console and powers off:
 * a boot test ends by itself and says how far it got. */
export const REPORT_UNIT = `[Unit]
Description=Report the system state to the console and power off

[Service]
Type=exec
ExecStart=/bin/sh -c 'state=$(systemctl is-system-running --wait); echo "MKOSI-TEST-STATE: $state" > /dev/console; systemctl poweroff --no-block'
`;

export function bookwormConf(extra = ""): string {
  return `[Distribution]
Distribution=debian
Release=bookworm

[Output]
Format=directory
ImageId=runtime

[Content]
Packages=systemd,dbus
WithDocs=no
Hostname=runtime-test

[Build]
PackageCacheDirectory=${PACKAGE_CACHE}
${extra}`;
}

/** A config tree for a bookworm image whose boot reports its state and powers off. */
export async function bookwormTree(
  files: Record<string, string> = {},
  conf = bookwormConf(),
): Promise<string> {
  const dir = await makeTree({
    files: {
      "mkosi.conf": conf,
      "mkosi.extra/etc/systemd/system/mkosi-test-report.service": REPORT_UNIT,
      ...files,
    },
  });
  const wants = join(dir, "mkosi.extra/etc/systemd/system/multi-user.target.wants");
  await mkdir(wants, { recursive: true });
  await symlink("../mkosi-test-report.service", join(wants, "mkosi-test-report.service"));
  return dir;
}

export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
}

/** Starts bin/mkosi and returns the child, for tests that signal it while it runs. */
export function startMkosi(args: string[], cwd: string, env: Record<string, string>) {
  const child = spawn(MKOSI, args, {
    cwd,
    env: { ...process.env, ...env, SOURCE_DATE_EPOCH: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, output: () => output, exited };
}
