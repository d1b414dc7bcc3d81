// The main mkosi.conf of a differential run as a model: setting → value, written out section by section in
// a fixed order, so a `set` edit is replayable on its own and the file's text depends only on the model.

/** Where each setting the differential variants use lives. */
export const SECTIONS: Record<string, string> = {
  Distribution: "Distribution",
  Release: "Distribution",
  Format: "Output",
  Output: "Output",
  CompressOutput: "Output",
  CompressLevel: "Output",
  ImageId: "Output",
  ImageVersion: "Output",
  OutputMode: "Output",
  ManifestFormat: "Output",
  Seed: "Output",
  SourceDateEpoch: "Content",
  SkeletonTrees: "Content",
  ExtraTrees: "Content",
  BaseTrees: "Content",
  RemoveFiles: "Content",
  Packages: "Content",
  RemovePackages: "Content",
  WithDocs: "Content",
  Hostname: "Content",
  Locale: "Content",
  Timezone: "Content",
  Keymap: "Content",
  RootPassword: "Content",
  MachineId: "Content",
  Autologin: "Content",
  MakeInitrd: "Content",
  CleanPackageMetadata: "Content",
  Environment: "Build",
  Incremental: "Build",
  BuildSources: "Build",
  BuildSourcesEphemeral: "Build",
  PackageCacheDirectory: "Build",
  Checksum: "Validation",
};

const ORDER = ["Distribution", "Output", "Content", "Build", "Validation"];

export type Settings = Map<string, string>;

/** Settings as mkosi.conf text (also used for drop-ins). */
export function renderConf(settings: Iterable<[string, string]>): string {
  const bySection = new Map<string, string[]>();
  for (const [key, value] of settings) {
    const section = SECTIONS[key];
    if (!section) throw new Error(`differential: no section known for ${key}=`);
    bySection.set(section, [...(bySection.get(section) ?? []), `${key}=${value}`]);
  }
  const blocks: string[] = [];
  for (const section of ORDER) {
    const lines = bySection.get(section);
    if (lines) blocks.push([`[${section}]`, ...lines].join("\n"));
  }
  return `${blocks.join("\n\n")}\n`;
}
