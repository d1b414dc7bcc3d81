// The configuration of one image, as `mkosi --json summary` and $MKOSI_CONFIG print it: its type
// and its check both come from the settings table (each setting's JSON name, kind, and the shape of
// what its parser produces).
import { ConfigError } from "./errors.js";
import { type FieldlessSetting, hasField, SETTINGS } from "./settings/index.js";
import type { Kind, Scope, Setting } from "./settings/types.js";

type FieldSetting = Exclude<(typeof SETTINGS)[number], FieldlessSetting>;

/** The value of a setting: an optional one may be unset (null), the others always have a value
 * (collections an empty one). */
type FieldValue<S> =
  S extends Setting<string, Scope, infer K extends Kind, infer T, boolean>
    ? K extends "optional"
      ? T | null
      : T
    : never;

/** Every setting's value, keyed by its JSON name. */
export type SettingValues = { -readonly [S in FieldSetting as S["name"]]: FieldValue<S> };

export type ImageConfig = SettingValues & {
  /** "main", a subimage's name, or "tools". */
  Image: string;
  /** The configuration files parsed for the image, in order. */
  Files: string[];
  /** BuildDirectory=/<BuildKey=> (when BuildDirectory= is set). */
  BuildSubdirectory?: string;
};

/** A setting's JSON name. */
export type SettingName = keyof SettingValues;

const FIELD_SETTINGS = (SETTINGS as readonly Setting[]).filter(hasField);

/** What is wrong with an object as an image's configuration (empty when nothing is). */
export function imageConfigProblems(config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const expect = (field: string, ok: boolean, what: string) => {
    if (!ok) problems.push(`${field}: expected ${what}, got ${JSON.stringify(config[field])}`);
  };
  for (const s of FIELD_SETTINGS) {
    const v = config[s.name];
    if (s.kind === "optional")
      expect(s.name, v === null || s.parse.shape.check(v), `${s.parse.shape.name} or null`);
    else expect(s.name, s.parse.shape.check(v), s.parse.shape.name);
  }
  expect("Image", typeof config.Image === "string", "string");
  expect(
    "Files",
    Array.isArray(config.Files) && config.Files.every((f) => typeof f === "string"),
    "list of string",
  );
  expect(
    "BuildSubdirectory",
    config.BuildSubdirectory === undefined || typeof config.BuildSubdirectory === "string",
    "string",
  );
  return problems;
}

/** Checks an object against the settings table and returns it typed. `source` names where the
 * object comes from, for a user's mistake (a configure script's output); without it a mismatch is
 * an internal error. */
export function checkImageConfig(config: Record<string, unknown>, source?: string): ImageConfig {
  const problems = imageConfigProblems(config);
  if (problems.length > 0) {
    const what = problems.join("; ");
    if (source) throw new ConfigError(`${source} is not a valid image configuration: ${what}`);
    throw new Error(
      `internal error: image ${String(config.Image)} does not have the expected shape (${what})`,
    );
  }
  return config as ImageConfig;
}

// Static checks of the derived type (compiled with the sources; they emit nothing).
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
export type StaticChecks = [
  Assert<Same<ImageConfig["Packages"], string[]>>,
  Assert<Same<ImageConfig["ImageId"], string | null>>,
  Assert<Same<ImageConfig["Bootable"], "enabled" | "disabled" | "auto">>,
  Assert<Same<ImageConfig["RootPassword"], [string, boolean] | null>>,
  Assert<Same<ImageConfig["SkeletonTrees"], { Source: string; Target: string | null }[]>>,
  Assert<Same<ImageConfig["Environment"], Record<string, string>>>,
  Assert<Same<ImageConfig["CompressLevel"], number>>,
  Assert<"tar" extends ImageConfig["Format"] ? (string extends ImageConfig["Format"] ? false : true) : false>,
  // No field for Include=, the tools tree's ToolsTree*= settings, or a shadowed setting.
  Assert<Same<Extract<"Include" | "ToolsTreeDistribution" | "KernelModulesInclude", SettingName>, never>>,
  Assert<Same<Extract<"KernelModules" | "ToolsTree", SettingName>, "KernelModules" | "ToolsTree">>,
];
