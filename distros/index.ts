// The registry of distributions: small data modules, cheap to import (config/ reads default releases and
// filesystems here, output steps package types). The binding of a distribution to its package manager's
// implementation is in installer.ts, so that only the steps that run a package manager depend on its code
// (their implementation digests cover it).
import { alma } from "./alma.js";
import { arch } from "./arch.js";
import { azure } from "./azure.js";
import { centos } from "./centos.js";
import { custom } from "./custom.js";
import { debian } from "./debian.js";
import { fedora } from "./fedora.js";
import { kali } from "./kali.js";
import { mageia } from "./mageia.js";
import { openmandriva } from "./openmandriva.js";
import { opensuse } from "./opensuse.js";
import { PACKAGE_MANAGER_TOOLS, PACKAGE_TYPES } from "./pm/tools.js";
import { rhel } from "./rhel.js";
import { rhelUbi } from "./rhel-ubi.js";
import { rocky } from "./rocky.js";
import type { Distribution, DistributionName, PackageManagerTools, PackageType } from "./types.js";
import { DistributionError } from "./types.js";
import { ubuntu } from "./ubuntu.js";

export * from "./types.js";

/** Every distribution of the man page, in its order. */
export const DISTRIBUTIONS: Readonly<Record<DistributionName, Distribution>> = {
  fedora,
  debian,
  kali,
  ubuntu,
  arch,
  opensuse,
  mageia,
  centos,
  rhel,
  "rhel-ubi": rhelUbi,
  openmandriva,
  rocky,
  alma,
  azure,
  custom,
};

export const DISTRIBUTION_NAMES = Object.keys(DISTRIBUTIONS) as DistributionName[];

/** The distribution module; throws a clear error for unknown names. */
export function distribution(name: string): Distribution {
  const d = DISTRIBUTIONS[name as DistributionName];
  if (!d) throw new DistributionError(`Distribution ${name} is not supported yet`);
  return d;
}

/** Does the distribution install packages (every one but custom)? */
export function hasPackageManager(name: string): boolean {
  const d = DISTRIBUTIONS[name as DistributionName];
  return d !== undefined && d.packageManager !== "none";
}

export function isAptDistribution(name: string): boolean {
  return DISTRIBUTIONS[name as DistributionName]?.packageManager === "apt";
}

/** The distributions whose packages are rpms (RepositoryKeyFetch= matters for them). */
export function isRpmDistribution(name: string): boolean {
  const d = DISTRIBUTIONS[name as DistributionName];
  return d !== undefined && PACKAGE_TYPES[d.packageManager] === "rpm";
}

export function packageTypeOf(name: string): PackageType {
  const d = DISTRIBUTIONS[name as DistributionName];
  return d ? PACKAGE_TYPES[d.packageManager] : "none";
}

/** The programs the distribution's package manager runs (see pm/tools.ts). */
export function packageManagerTools(name: string): PackageManagerTools {
  const d = DISTRIBUTIONS[name as DistributionName];
  return PACKAGE_MANAGER_TOOLS[d?.packageManager ?? "none"];
}

/** The distribution's name for a mkosi architecture; throws for unsupported architectures. */
export function distributionArchitecture(d: Distribution, arch: string): string {
  if (d.packageManager === "none") return arch;
  const a = d.architectures[arch];
  if (!a) throw new DistributionError(`Architecture ${arch} is not supported by ${d.prettyName}`);
  return a;
}
