// `mkosi dependencies [-- --profile NAME…]`: the Debian packages needed to build images on this host,
// one per line (for `xargs apt-get install`). That is the default tools tree's package list (what mkosi
// itself runs, per the tools tree's profiles: none by default, `--profile runtime` adds qemu, swtpm,
// virtiofsd, nspawn…) plus what this implementation runs on the host besides: Node.js and the helpers
// its steps use directly.
import { RuntimeError } from "./host.js";

/** Programs this implementation runs on the host itself (sandbox, publishing, archives, runtime). */
export const HOST_PACKAGES = [
  "nodejs",
  "bubblewrap",
  "util-linux",
  "rsync",
  "attr",
  "eatmydata",
  "gnupg",
  "uidmap",
];

/** Runtime verbs' host programs (also in the tools tree's runtime profile). */
export const RUNTIME_HOST_PACKAGES = [
  "fdisk",
  "systemd-container",
  "qemu-system-x86",
  "ovmf",
  "swtpm",
  "swtpm-tools",
  "openssh-client",
];

export const PROFILES = ["devel", "misc", "package-manager", "runtime"];

/** `--profile NAME`, `--profile=NAME`, comma lists, repeated. */
export function parseProfiles(cmdline: string[]): string[] {
  const profiles: string[] = [];
  for (let i = 0; i < cmdline.length; i++) {
    const arg = cmdline[i] as string;
    let value: string | undefined;
    if (arg === "--profile") value = cmdline[++i];
    else if (arg.startsWith("--profile=")) value = arg.slice("--profile=".length);
    else throw new RuntimeError(`dependencies: unknown argument ${arg} (only --profile NAME)`);
    if (value === undefined) throw new RuntimeError("dependencies: --profile needs a profile name");
    for (const profile of value.split(",").filter(Boolean)) {
      if (!PROFILES.includes(profile))
        throw new RuntimeError(
          `dependencies: unknown profile ${profile} (choose from ${PROFILES.join(", ")})`,
        );
      profiles.push(profile);
    }
  }
  return profiles;
}

export function dependencyList(toolsTreePackages: string[], profiles: string[]): string[] {
  const all = new Set([...toolsTreePackages, ...HOST_PACKAGES]);
  if (profiles.includes("runtime")) for (const name of RUNTIME_HOST_PACKAGES) all.add(name);
  return [...all].sort();
}
