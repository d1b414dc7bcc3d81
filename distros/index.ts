// Registry of distributions. dnf/pacman/zypper distributions register here when implemented.
import { debian, kali, ubuntu } from "./debian.js";
import { type Distribution, DistributionError, type DistributionName } from "./types.js";

export { debian, kali, ubuntu } from "./debian.js";
export * from "./types.js";

const REGISTRY: Partial<Record<DistributionName, Distribution>> = { debian, ubuntu, kali };

/** The implementation of a distribution; throws a clear error for ones not implemented yet. */
export function getDistribution(name: string): Distribution {
  const d = REGISTRY[name as DistributionName];
  if (!d)
    throw new DistributionError(
      `Distribution ${name} is not supported yet (supported: ${Object.keys(REGISTRY).join(", ")})`,
    );
  return d;
}

export function isAptDistribution(name: string): boolean {
  return name === "debian" || name === "ubuntu" || name === "kali";
}

export function registerDistribution(d: Distribution): void {
  REGISTRY[d.name] = d;
}
