// Declared settings, enforced. A step names the settings it reads (`Step.reads`); while the planner builds
// its parameters, the step sees the image through a view that throws on any other setting, and afterwards
// the planner checks that each one it reads reaches the node's key: as a value of the same name, as path
// inputs (a path setting's files are fingerprinted, not its spelling), inside $MKOSI_CONFIG, as a secret,
// or listed in `Step.unkeyed` with the reason it does not change the result. A step that reads a setting
// its key forgets fails every build, not just a test.
import type { DeclaredInputs, Json, PathInput } from "../engine/api.js";
import { jsonEqual } from "../engine/encoding.js";
import type { ConfigTree, ImageView } from "./image.js";

export type SettingName = Extract<keyof ImageView, string>;

/** What a step reads: a list of settings, or "all" (it hands the whole configuration to scripts). */
export type Reads = readonly SettingName[] | "all";

const ORIGINAL = Symbol("mkosi.image");
const READS = Symbol("mkosi.reads");
const ACCESSED = Symbol("mkosi.accessed");

/** The image's name identifies it (node ids, labels); reading it reads no setting. */
const IDENTITY = new Set(["Image"]);

/** `image` as a step may see it: only the settings in `reads`. The view records which it read. */
export function settingsView(image: ImageView, reads: Reads, step: string): ImageView {
  const allowed = reads === "all" ? undefined : new Set<string>([...reads, ...IDENTITY]);
  const visible = (key: string) => !allowed || allowed.has(key) || !(key in image);
  const accessed = new Set<string>();
  return new Proxy(image, {
    get(target, prop, receiver) {
      if (prop === ORIGINAL) return target;
      if (prop === READS) return reads;
      if (prop === ACCESSED) return accessed;
      if (typeof prop === "string" && prop in target) {
        if (!visible(prop))
          throw new Error(`internal error: step ${step} reads ${prop}= without declaring it (Step.reads)`);
        accessed.add(prop);
      }
      return Reflect.get(target, prop, receiver);
    },
    has(target, prop) {
      return typeof prop === "string" && !visible(prop) ? false : Reflect.has(target, prop);
    },
    ownKeys(target) {
      return Reflect.ownKeys(target).filter((key) => typeof key !== "string" || visible(key));
    },
    getOwnPropertyDescriptor(target, prop) {
      if (typeof prop === "string" && !visible(prop)) return undefined;
      return Reflect.getOwnPropertyDescriptor(target, prop);
    },
  });
}

/** The full image behind a view (the image itself when it is none). */
export function originalImage(image: ImageView): ImageView {
  return ((image as unknown as Record<symbol, unknown>)[ORIGINAL] as ImageView | undefined) ?? image;
}

/** The whole configuration of a view's image, for a step that reads everything ($MKOSI_CONFIG): every
 * setting counts as read. Throws for a step that declared a list. */
export function wholeImage(image: ImageView, what: string): ImageView {
  const reads = (image as unknown as Record<symbol, unknown>)[READS] as Reads | undefined;
  const original = originalImage(image);
  if (reads === undefined) return original;
  if (reads !== "all")
    throw new Error(`internal error: ${what} needs the whole configuration (Step.reads "all")`);
  const accessed = (image as unknown as Record<symbol, Set<string>>)[ACCESSED]!;
  for (const key of Object.keys(original)) accessed.add(key);
  return original;
}

/** Settings read through a view so far. */
function accessedSettings(image: ImageView): string[] {
  const accessed = (image as unknown as Record<symbol, Set<string> | undefined>)[ACCESSED];
  return accessed ? [...accessed] : Object.keys(image);
}

/** Absolute paths a path-valued setting names (strings, lists of strings, trees); undefined when the
 * value is not paths. */
function pathsOf(value: unknown): string[] | undefined {
  if (value === null || value === undefined) return [];
  if (typeof value === "string") return value.startsWith("/") ? [value] : undefined;
  if (!Array.isArray(value)) return undefined;
  const out: string[] = [];
  for (const item of value) {
    if (typeof item === "string" && item.startsWith("/")) out.push(item);
    else if (item && typeof item === "object" && typeof (item as ConfigTree).Source === "string")
      out.push((item as ConfigTree).Source);
    else return undefined;
  }
  return out;
}

function declaredPaths(inputs: DeclaredInputs): Set<string> {
  const out = new Set<string>();
  for (const [, input] of inputs.paths ?? []) {
    if (typeof input === "string") out.add(input);
    else if (input) out.add((input as PathInput).path);
  }
  return out;
}

/** Why `setting` (value `value`) is covered by `inputs`, or undefined when it is not. */
function coverage(setting: string, value: unknown, inputs: DeclaredInputs, paths: Set<string>): boolean {
  const values = inputs.values ?? {};
  if (setting in values && jsonEqual(values[setting], value as Json)) return true;
  const secrets = inputs.secrets ?? {};
  if (setting in secrets && jsonEqual(secrets[setting], value as Json)) return true;
  // $MKOSI_CONFIG carries the whole configuration (as the scripts get it); secrets apart.
  for (const config of [values.MKOSI_CONFIG, secrets.MKOSI_CONFIG])
    if (config && typeof config === "object" && !Array.isArray(config) && setting in config) return true;
  const named = pathsOf(value);
  return named?.every((path) => paths.has(path)) === true;
}

/**
 * Check that every setting a step read through `view` reaches its key. `unkeyed` lists the exceptions
 * with their reasons. Throws an internal error naming the step and the setting.
 */
export function checkDeclaredReads(
  step: string,
  view: ImageView,
  unkeyed: Partial<Record<SettingName, string>>,
  inputs: DeclaredInputs,
): void {
  const full = originalImage(view);
  const paths = declaredPaths(inputs);
  for (const setting of accessedSettings(view) as SettingName[]) {
    if (IDENTITY.has(setting) || unkeyed[setting] !== undefined) continue;
    if (!coverage(setting, full[setting], inputs, paths))
      throw new Error(
        `internal error: step ${step} reads ${setting}= but its key does not cover it (declare it as a value, path input or secret, or list it in Step.unkeyed with the reason)`,
      );
  }
}
