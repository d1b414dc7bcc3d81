// The slice of an image's resolved configuration that the build pipeline reads. Values are exactly those
// of `mkosi --json summary` (config/ produces them); this type names the fields tasks rely on so that a
// task's declared inputs are checked by the compiler.
import type { Json } from "../engine/api.js";

export type ConfigTree = {
  Source: string;
  Target: string | null;
};

export type Feature = "enabled" | "disabled" | "auto";

export interface ImageView {
  Image: string;
  Distribution: string;
  Release: string;
  Architecture: string;
  Mirror: string | null;
  LocalMirror: string | null;
  RepositoryKeyCheck: boolean;
  RepositoryKeyFetch: boolean;
  Repositories: string[];
  Format: string;
  Output: string;
  OutputExtension: string;
  CompressOutput: string;
  CompressLevel: number;
  OutputDirectory: string | null;
  OutputMode: number | null;
  ImageId: string | null;
  ImageVersion: string | null;
  ManifestFormat: string[];
  Packages: string[];
  BuildPackages: string[];
  VolatilePackages: string[];
  PackageDirectories: string[];
  VolatilePackageDirectories: string[];
  WithRecommends: boolean;
  WithDocs: boolean;
  BaseTrees: string[];
  SkeletonTrees: ConfigTree[];
  ExtraTrees: ConfigTree[];
  RemovePackages: string[];
  RemoveFiles: string[];
  CleanPackageMetadata: Feature;
  SourceDateEpoch: number | null;
  SyncScripts: string[];
  PrepareScripts: string[];
  BuildScripts: string[];
  PostInstallationScripts: string[];
  FinalizeScripts: string[];
  PostOutputScripts: string[];
  Bootable: Feature;
  Locale: string | null;
  LocaleMessages: string | null;
  Keymap: string | null;
  Timezone: string | null;
  Hostname: string | null;
  RootPassword: [string, boolean] | null;
  RootShell: string | null;
  MachineId: string | null;
  Autologin: boolean;
  MakeInitrd: boolean;
  Ssh: string;
  Checksum: boolean;
  Sign: boolean;
  Key: string | null;
  Incremental: string;
  CacheOnly: string;
  CacheDirectory: string | null;
  CacheKey: string;
  PackageCacheDirectory: string | null;
  BuildDirectory: string | null;
  BuildSources: ConfigTree[];
  BuildSourcesEphemeral: string;
  Environment: Record<string, string>;
  EnvironmentFiles: string[];
  WithTests: boolean;
  WithNetwork: boolean;
  SandboxTrees: ConfigTree[];
  ToolsTree: string | null;
  NSpawnSettings: string | null;
  Credentials: Record<string, string>;
  Dependencies: string[];
  Profiles: string[];
  Seed: string | null;
  [setting: string]: Json | undefined;
}

/** The whole JSON object of one image, as `$MKOSI_CONFIG` carries it. */
export type ImageJson = ImageView & Record<string, Json>;
