// Where the resolved configuration enters the pipeline: validate the fields tasks read (names and types
// as `summary --json` prints them), so a mismatch between config/ and tasks/ fails loudly here instead
// of producing a wrong key.
import { z } from "zod";
import type { ImageView } from "./image.js";

const tree = z.object({ Source: z.string(), Target: z.string().nullable() });
const feature = z.enum(["enabled", "disabled", "auto"]);
const str = z.string();
const optStr = z.string().nullable();
const strs = z.array(z.string());

const schema = z
  .object({
    Image: str,
    Distribution: str,
    Release: str,
    Architecture: str,
    Mirror: optStr,
    LocalMirror: optStr,
    RepositoryKeyCheck: z.boolean(),
    Repositories: strs,
    Format: str,
    Output: str,
    OutputExtension: str,
    CompressOutput: str,
    CompressLevel: z.number(),
    OutputDirectory: optStr,
    OutputMode: z.number().nullable(),
    ImageId: optStr,
    ImageVersion: optStr,
    ManifestFormat: strs,
    Packages: strs,
    BuildPackages: strs,
    VolatilePackages: strs,
    PackageDirectories: strs,
    VolatilePackageDirectories: strs,
    WithRecommends: z.boolean(),
    WithDocs: z.boolean(),
    BaseTrees: strs,
    SkeletonTrees: z.array(tree),
    ExtraTrees: z.array(tree),
    RemovePackages: strs,
    RemoveFiles: strs,
    CleanPackageMetadata: feature,
    SourceDateEpoch: z.number().nullable(),
    SyncScripts: strs,
    PrepareScripts: strs,
    BuildScripts: strs,
    PostInstallationScripts: strs,
    FinalizeScripts: strs,
    PostOutputScripts: strs,
    Bootable: feature,
    Locale: optStr,
    LocaleMessages: optStr,
    Keymap: optStr,
    Timezone: optStr,
    Hostname: optStr,
    RootPassword: z.tuple([z.string(), z.boolean()]).nullable(),
    RootShell: optStr,
    MachineId: optStr,
    Autologin: z.boolean(),
    MakeInitrd: z.boolean(),
    Checksum: z.boolean(),
    Sign: z.boolean(),
    Key: optStr,
    Incremental: str,
    CacheOnly: str,
    CacheDirectory: optStr,
    PackageCacheDirectory: optStr,
    BuildDirectory: optStr,
    BuildSources: z.array(tree),
    Environment: z.record(z.string(), z.string()),
    EnvironmentFiles: strs,
    WithTests: z.boolean(),
    WithNetwork: z.boolean(),
    SandboxTrees: z.array(tree),
    NSpawnSettings: optStr,
    Dependencies: strs,
  })
  .passthrough();

export function toImageView(config: Record<string, unknown>): ImageView {
  const result = schema.safeParse(config);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ");
    throw new Error(
      `internal error: image ${String(config.Image)} does not have the expected shape (${issues})`,
    );
  }
  return result.data as unknown as ImageView;
}
