// Facts about the host: distribution and release (os-release), overridable like upstream with
// $MKOSI_HOST_DISTRIBUTION / $MKOSI_HOST_RELEASE.
import { readFileSync } from "node:fs";
import { APT_DISTRIBUTIONS, DISTRIBUTIONS } from "./enums.js";

let cached: { distribution: string | null; release: string | null } | undefined;

export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    let v = line.slice(eq + 1).trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    out[line.slice(0, eq).trim()] = v;
  }
  return out;
}

function distributionFromId(id: string): string | null {
  if (id === "azurelinux") return "azure";
  if (id === "opensuse-tumbleweed" || id === "opensuse-leap" || id === "opensuse") return "opensuse";
  if (id === "archlinux") return "arch";
  return (DISTRIBUTIONS as readonly string[]).includes(id) ? id : null;
}

function detect(): { distribution: string | null; release: string | null } {
  let osr: Record<string, string> = {};
  for (const p of ["/etc/os-release", "/usr/lib/os-release"]) {
    try {
      osr = parseOsRelease(readFileSync(p, "utf8"));
      break;
    } catch {
      // try the next one
    }
  }
  let dist: string | null = null;
  if (osr.ID) dist = distributionFromId(osr.ID);
  if (!dist && osr.ID_LIKE) {
    for (const like of osr.ID_LIKE.split(/\s+/)) {
      dist = distributionFromId(like);
      if (dist) break;
    }
  }
  let release: string | null = null;
  if (dist && APT_DISTRIBUTIONS.has(dist)) release = osr.VERSION_CODENAME ?? null;
  else release = osr.VERSION_ID ?? null;
  return { distribution: dist, release };
}

export function hostDistribution(): string | null {
  const env = process.env.MKOSI_HOST_DISTRIBUTION;
  if (env) return distributionFromId(env) ?? env;
  cached ??= detect();
  return cached.distribution;
}

export function hostRelease(): string | null {
  const env = process.env.MKOSI_HOST_RELEASE;
  if (env) return env;
  cached ??= detect();
  return cached.release;
}
