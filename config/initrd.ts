// The default initrd's configuration: like mkosi, an image built from the builtin mkosi-initrd
// configuration (config/resources/mkosi-initrd) with no configuration directory, fed the settings of
// the image it boots that make it match (distribution, release, architecture, repositories, sandbox
// trees, caches, locale and root password, …) plus InitrdPackages=, InitrdVolatilePackages= and
// InitrdProfiles=. It is resolved like a command line, so every default comes from the settings table.

import type { CliAssignment } from "./args.js";
import { defaultArgs } from "./args.js";
import type { Warn } from "./errors.js";
import { type ImageConfig, Loader } from "./loader.js";
import { SETTINGS_BY_NAME } from "./settings/index.js";

type Tree = { Source: string; Target: string | null };

/** The settings of `image` the default initrd takes over, as command-line values (name → values). */
function initrdAssignments(image: ImageConfig, toolsTree: string | null): [string, string][] {
  const out: [string, string][] = [];
  const put = (name: string, value: unknown) => {
    if (value === null || value === undefined) return;
    out.push([name, String(value)]);
  };
  for (const name of ["Distribution", "Release", "Architecture", "Mirror", "LocalMirror"])
    put(name, (image as Record<string, unknown>)[name]);
  put("RepositoryKeyCheck", image.RepositoryKeyCheck);
  put("RepositoryKeyFetch", image.RepositoryKeyFetch);
  for (const repository of (image.Repositories as string[] | undefined) ?? [])
    put("Repositories", repository);
  for (const tree of (image.SandboxTrees as Tree[] | undefined) ?? [])
    put("SandboxTrees", tree.Target ? `${tree.Source}:${tree.Target}` : tree.Source);
  // Initrds are always compressed: "none" keeps the initrd's own default.
  if (image.CompressOutput && image.CompressOutput !== "none") put("CompressOutput", image.CompressOutput);
  put("CompressLevel", image.CompressLevel);
  put("WithNetwork", image.WithNetwork);
  put("CacheOnly", image.CacheOnly);
  put("CacheDirectory", image.CacheDirectory);
  put("PackageCacheDirectory", image.PackageCacheDirectory);
  put("Incremental", image.Incremental);
  for (const profile of (image.InitrdProfiles as string[] | undefined) ?? []) put("Profiles", profile);
  for (const p of (image.InitrdPackages as string[] | undefined) ?? []) put("Packages", p);
  for (const p of (image.InitrdVolatilePackages as string[] | undefined) ?? []) put("VolatilePackages", p);
  for (const d of (image.PackageDirectories as string[] | undefined) ?? []) put("PackageDirectories", d);
  for (const d of (image.VolatilePackageDirectories as string[] | undefined) ?? [])
    put("VolatilePackageDirectories", d);
  put("Output", "initrd");
  put("ImageId", image.ImageId);
  put("ImageVersion", image.ImageVersion);
  put("SourceDateEpoch", image.SourceDateEpoch);
  for (const name of ["Locale", "LocaleMessages", "Keymap", "Timezone", "Hostname"])
    put(name, (image as Record<string, unknown>)[name]);
  const password = image.RootPassword as [string, boolean] | null | undefined;
  if (password) put("RootPassword", password[1] ? `hashed:${password[0]}` : password[0]);
  for (const [key, value] of Object.entries((image.Environment as Record<string, string> | undefined) ?? {}))
    put("Environment", `${key}=${value}`);
  put("ToolsTree", toolsTree);
  put("ToolsTreeCertificates", image.ToolsTreeCertificates);
  put("ProxyUrl", image.ProxyUrl);
  // SELinux relabelling: "enabled" in the image becomes "auto" (the initrd may have no policy).
  const relabel = image.SELinuxRelabel === "enabled" ? "auto" : image.SELinuxRelabel;
  put("SELinuxRelabel", relabel);
  put("Include", "mkosi-initrd");
  return out;
}

/**
 * The configuration of the default initrd of `image`. `toolsTree` is the tools tree directory the
 * initrd uses (null with the default tools tree: the planner gives it that one).
 */
export function defaultInitrdConfig(
  image: ImageConfig,
  opts: { toolsTree: string | null; env?: Record<string, string | undefined>; warn?: Warn },
): ImageConfig {
  const assignments: CliAssignment[] = initrdAssignments(image, opts.toolsTree).map(([name, value]) => {
    const setting = SETTINGS_BY_NAME.get(name);
    if (!setting) throw new Error(`internal error: no setting ${name}`);
    return { setting, value, cwd: "/", option: `--${name}` };
  });
  const args = defaultArgs({ verb: "build", directory: null, assignments });
  const loaded = new Loader(args, opts.env ?? process.env, opts.warn ?? (() => {})).load();
  const initrd = loaded.images[loaded.images.length - 1]!;
  return { ...initrd, Image: "initrd" };
}
