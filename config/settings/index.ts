// The settings table: every setting, in upstream's order, plus lookup tables.
import { BUILD_SETTINGS } from "./build.js";
import { CONFIG_SETTINGS } from "./config-section.js";
import { CONTENT_SETTINGS } from "./content.js";
import { DISTRIBUTION_SETTINGS, OUTPUT_SETTINGS } from "./distribution-output.js";
import { RUNTIME_SETTINGS } from "./runtime.js";
import type { Setting } from "./types.js";
import { VALIDATION_SETTINGS } from "./validation.js";

export type { DefaultCtx, Kind, MatchCtx, Scope, Section, Setting } from "./types.js";

export const SETTINGS = [
  ...CONFIG_SETTINGS,
  ...DISTRIBUTION_SETTINGS,
  ...OUTPUT_SETTINGS,
  ...CONTENT_SETTINGS,
  ...VALIDATION_SETTINGS,
  ...BUILD_SETTINGS,
  ...RUNTIME_SETTINGS,
] as const satisfies readonly Setting[];

/** Settings that have no field of their own in an image's configuration: Include= (parsed in
 * place), the ToolsTree*= settings of the default tools tree (they become its settings), and the
 * settings a later one shadows. */
export type FieldlessSetting = { name: "Include" } | { scope: "tools" } | { shadowed: true };

export function hasField(s: Setting): boolean {
  return s.name !== "Include" && s.scope !== "tools" && !s.shadowed;
}

export const SECTIONS = [
  "Include",
  "Config",
  "Distribution",
  "Output",
  "Content",
  "Validation",
  "Build",
  "Runtime",
] as const;

/** ini name (and old names) → setting. */
export const SETTINGS_BY_NAME = new Map<string, Setting>();
/** dest → setting (for the three shared dests the later one wins, as upstream). */
export const SETTINGS_BY_DEST = new Map<string, Setting>();
/** specifier letter → setting. */
export const SETTINGS_BY_SPECIFIER = new Map<string, Setting>();

for (const s of SETTINGS as readonly Setting[]) {
  SETTINGS_BY_NAME.set(s.name, s);
  for (const c of s.compatNames ?? []) SETTINGS_BY_NAME.set(c, s);
  SETTINGS_BY_DEST.set(s.dest, s);
  if (s.specifier) SETTINGS_BY_SPECIFIER.set(s.specifier, s);
}

/** Dests that have no field in an image's configuration. */
export const NON_CONFIG_DESTS = new Set(
  SETTINGS.filter((s: Setting) => !hasField(s) && !s.shadowed).map((s) => s.dest),
);

/** Unique dests in table order. */
export const DESTS: readonly string[] = [...new Set(SETTINGS.map((s) => s.dest))];

/** JSON key of a dest: the name of the last setting with that dest. */
export function jsonKey(dest: string): string {
  return (SETTINGS_BY_DEST.get(dest) as Setting).name;
}

/** The ToolsTree* settings and the setting each one becomes in the tools tree config. */
export const TOOLS_TREE_RENAMES: Record<string, string> = {
  tools_tree_distribution: "distribution",
  tools_tree_release: "release",
  tools_tree_profiles: "profiles",
  tools_tree_mirror: "mirror",
  tools_tree_repositories: "repositories",
  tools_tree_sandbox_trees: "sandbox_trees",
  tools_tree_packages: "packages",
  tools_tree_package_directories: "package_directories",
};

// The table marks the settings whose dest a later one shares (and names in JSON): check it.
{
  const last = new Map((SETTINGS as readonly Setting[]).map((s) => [s.dest, s] as const));
  for (const s of SETTINGS as readonly Setting[])
    if (s.shadowed !== (last.get(s.dest) !== s))
      throw new Error(
        `settings table: ${s.name} ${s.shadowed ? "is not" : "is"} shadowed by a later setting`,
      );
}
