// Where the resolved configuration enters the pipeline: check the fields tasks read (names and types as
// `summary --json` prints them), so a mismatch between config/ and tasks/ fails loudly here instead of
// producing a wrong key. Hand-written rather than zod: this runs on every build, including no-op ones,
// which should not pay for loading a validation library.
import type { ImageView } from "./image.js";

type Kind =
  | "string"
  | "string?"
  | "boolean"
  | "number"
  | "number?"
  | "strings"
  | "trees"
  | "feature"
  | "environment"
  | "password?";

const FIELDS: Record<string, Kind> = {
  Image: "string",
  Distribution: "string",
  Release: "string",
  Architecture: "string",
  Mirror: "string?",
  LocalMirror: "string?",
  RepositoryKeyCheck: "boolean",
  Repositories: "strings",
  Format: "string",
  Output: "string",
  OutputExtension: "string",
  CompressOutput: "string",
  CompressLevel: "number",
  OutputDirectory: "string?",
  OutputMode: "number?",
  ImageId: "string?",
  ImageVersion: "string?",
  ManifestFormat: "strings",
  Packages: "strings",
  BuildPackages: "strings",
  VolatilePackages: "strings",
  PackageDirectories: "strings",
  VolatilePackageDirectories: "strings",
  WithRecommends: "boolean",
  WithDocs: "boolean",
  BaseTrees: "strings",
  SkeletonTrees: "trees",
  ExtraTrees: "trees",
  RemovePackages: "strings",
  RemoveFiles: "strings",
  CleanPackageMetadata: "feature",
  SourceDateEpoch: "number?",
  SyncScripts: "strings",
  PrepareScripts: "strings",
  BuildScripts: "strings",
  PostInstallationScripts: "strings",
  FinalizeScripts: "strings",
  PostOutputScripts: "strings",
  Bootable: "feature",
  Locale: "string?",
  LocaleMessages: "string?",
  Keymap: "string?",
  Timezone: "string?",
  Hostname: "string?",
  RootPassword: "password?",
  RootShell: "string?",
  MachineId: "string?",
  Autologin: "boolean",
  MakeInitrd: "boolean",
  Checksum: "boolean",
  Sign: "boolean",
  Key: "string?",
  Incremental: "string",
  CacheOnly: "string",
  CacheDirectory: "string?",
  PackageCacheDirectory: "string?",
  BuildDirectory: "string?",
  BuildSources: "trees",
  Environment: "environment",
  EnvironmentFiles: "strings",
  WithTests: "boolean",
  WithNetwork: "boolean",
  SandboxTrees: "trees",
  NSpawnSettings: "string?",
  Dependencies: "strings",
};

const isString = (v: unknown): v is string => typeof v === "string";
const isTree = (v: unknown): boolean =>
  typeof v === "object" &&
  v !== null &&
  isString((v as { Source?: unknown }).Source) &&
  ((v as { Target?: unknown }).Target === null || isString((v as { Target?: unknown }).Target));

function matches(kind: Kind, v: unknown): boolean {
  switch (kind) {
    case "string":
      return isString(v);
    case "string?":
      return v === null || isString(v);
    case "boolean":
      return typeof v === "boolean";
    case "number":
      return typeof v === "number";
    case "number?":
      return v === null || typeof v === "number";
    case "strings":
      return Array.isArray(v) && v.every(isString);
    case "trees":
      return Array.isArray(v) && v.every(isTree);
    case "feature":
      return v === "enabled" || v === "disabled" || v === "auto";
    case "environment":
      return typeof v === "object" && v !== null && !Array.isArray(v) && Object.values(v).every(isString);
    case "password?":
      return (
        v === null || (Array.isArray(v) && v.length === 2 && isString(v[0]) && typeof v[1] === "boolean")
      );
  }
}

export function toImageView(config: Record<string, unknown>): ImageView {
  const problems = Object.entries(FIELDS)
    .filter(([field, kind]) => !matches(kind, config[field]))
    .map(([field, kind]) => `${field}: expected ${kind}, got ${JSON.stringify(config[field])}`);
  if (problems.length > 0)
    throw new Error(
      `internal error: image ${String(config.Image)} does not have the expected shape (${problems.join("; ")})`,
    );
  return config as unknown as ImageView;
}
