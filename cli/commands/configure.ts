// Configure scripts (ConfigureScripts=, mkosi.configure): before a build, each image's configuration is
// fed to its scripts as JSON on stdin and replaced by what they print. As in mkosi, settings the output
// leaves out take their default values (not their previous ones), and keys that are not settings are an
// error unless their value is empty.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultArgs } from "../../config/args.js";
import { checkImageConfig } from "../../config/image.js";
import { imageConfigJson } from "../../config/json.js";
import { type ImageConfig, loadConfig, type ResolvedConfig } from "../../config/loader.js";
import { runScripts } from "../../sandbox/scripts.js";

/** Every setting at its default: the configuration of an empty directory, with defaults that derive
 * from the directory (BuildSources=) pointing at the real one. */
async function defaultImage(directory: string): Promise<ImageConfig> {
  const empty = await mkdtemp(join(tmpdir(), "mkosi-defaults-"));
  try {
    const config = await loadConfig(defaultArgs({ verb: "summary", directory: empty }), { warn: () => {} });
    const image = config.images[config.images.length - 1]!;
    return JSON.parse(JSON.stringify(image).split(JSON.stringify(empty).slice(1, -1)).join(directory));
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
}

function isEmpty(value: unknown): boolean {
  return (
    value === null ||
    (Array.isArray(value) && value.length === 0) ||
    (typeof value === "object" && value !== null && Object.keys(value).length === 0)
  );
}

export async function runConfigureScripts(
  config: ResolvedConfig,
  directory: string,
  debug: boolean,
): Promise<void> {
  let defaults: ImageConfig | undefined;
  for (const [index, image] of config.images.entries()) {
    const scripts = image.ConfigureScripts;
    if (scripts.length === 0) continue;
    const workDir = await mkdtemp(join(tmpdir(), "mkosi-configure-"));
    try {
      // A tools tree directory is the scripts' /usr; the default tools tree is not built yet, so with
      // ToolsTree=default they see the host's.
      const tree = config.tools ? null : image.ToolsTree;
      const result = await runScripts({
        kind: "configure",
        tools: tree ? { root: tree, certificates: image.ToolsTreeCertificates !== false } : undefined,
        scripts,
        config: image,
        input: imageConfigJson(image, null),
        workDir,
        debug,
        onOutput: (line) => process.stderr.write(`${line}\n`),
      });
      let printed: Record<string, unknown>;
      try {
        printed = JSON.parse(result.stdout ?? "") as Record<string, unknown>;
      } catch {
        throw new Error(`configure script of image ${image.Image} did not print a JSON configuration`);
      }
      defaults ??= await defaultImage(directory);
      for (const [key, value] of Object.entries(printed)) {
        if (!(key in defaults) && !isEmpty(value))
          throw new Error(`configure script of image ${image.Image} printed an unknown setting ${key}`);
      }
      config.images[index] = checkImageConfig(
        { ...defaults, ...printed, Image: image.Image, Files: image.Files },
        `the configuration printed by the configure script of image ${image.Image}`,
      );
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }
}
