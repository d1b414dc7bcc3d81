// A complete ImageView with upstream's defaults for a Debian bookworm directory image, for unit tests
// of the planner and of the tasks' declared inputs (no builds): the configuration loader's defaults
// (no configuration directory), with the values below.
import { defaultArgs } from "../../config/args.js";
import { Loader } from "../../config/loader.js";
import type { PlanEnv } from "../../tasks/env.js";
import type { ImageView } from "../../tasks/image.js";

export const DIR = "/srv/project";

const DEFAULTS = new Loader(defaultArgs({ verb: "summary", directory: null }), {}, () => {}).load()
  .images[0] as ImageView;

export function image(overrides: Partial<ImageView> = {}): ImageView {
  return {
    ...DEFAULTS,
    Image: "main",
    Distribution: "debian",
    Release: "bookworm",
    Architecture: "x86-64",
    Mirror: null,
    LocalMirror: null,
    RepositoryKeyCheck: true,
    RepositoryKeyFetch: false,
    Repositories: [],
    Format: "directory",
    Output: "image",
    OutputExtension: "",
    CompressOutput: "none",
    CompressLevel: 3,
    OutputDirectory: null,
    OutputMode: null,
    ImageId: null,
    ImageVersion: null,
    ManifestFormat: [],
    Packages: ["systemd"],
    BuildPackages: [],
    VolatilePackages: [],
    PackageDirectories: [],
    VolatilePackageDirectories: [],
    WithRecommends: false,
    WithDocs: true,
    BaseTrees: [],
    SkeletonTrees: [{ Source: `${DIR}/mkosi.skeleton`, Target: null }],
    ExtraTrees: [{ Source: `${DIR}/mkosi.extra`, Target: null }],
    RemovePackages: [],
    RemoveFiles: [],
    CleanPackageMetadata: "auto",
    SourceDateEpoch: null,
    SyncScripts: [],
    PrepareScripts: [`${DIR}/mkosi.prepare`],
    BuildScripts: [`${DIR}/mkosi.build`],
    PostInstallationScripts: [`${DIR}/mkosi.postinst`],
    FinalizeScripts: [`${DIR}/mkosi.finalize`],
    PostOutputScripts: [],
    Bootable: "auto",
    Locale: null,
    LocaleMessages: null,
    Keymap: null,
    Timezone: null,
    Hostname: null,
    RootPassword: null,
    RootShell: null,
    MachineId: null,
    Autologin: false,
    MakeInitrd: false,
    Ssh: "auto",
    Checksum: false,
    Sign: false,
    Key: null,
    Incremental: "no",
    CacheOnly: "auto",
    CacheDirectory: null,
    CacheKey: "&d~&r~&a~&I",
    PackageCacheDirectory: null,
    BuildDirectory: null,
    BuildSources: [{ Source: DIR, Target: null }],
    BuildSourcesEphemeral: "no",
    Environment: {},
    EnvironmentFiles: [],
    WithTests: true,
    WithNetwork: false,
    SandboxTrees: [],
    ToolsTree: null,
    NSpawnSettings: null,
    Credentials: {},
    Dependencies: [],
    Profiles: [],
    Seed: "e8f3e2b4-0e5f-4b8c-9a5e-2d6f1c3b7a90",
    ...overrides,
  };
}

export function planEnv(overrides: Partial<PlanEnv> = {}): PlanEnv {
  return {
    cacheDir: "/var/cache/test/graph",
    packageCacheDir: "/var/cache/test/packages",
    configDir: DIR,
    options: {
      force: 0,
      rerunBuildScripts: false,
      wipeBuildDir: false,
      cmdline: [],
      debug: false,
      debugShell: false,
    },
    configJson: (i) => JSON.stringify(i),
    secretSettings: ["RootPassword", "Passphrase", "SshKey", "ProxyClientKey", "ProxyClientCertificate"],
    uid: 0,
    gid: 0,
    ...overrides,
  };
}
