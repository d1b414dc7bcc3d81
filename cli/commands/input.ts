// Turns the loaded configuration and parsed arguments into the input of the build and graph commands.
import { checkImageConfig } from "../../config/image.js";
import { defaultInitrdConfig } from "../../config/initrd.js";
import { imageConfigJson } from "../../config/json.js";
import { jsonKey, SETTINGS } from "../../config/settings/index.js";
import { type BootConfig, wantsDefaultInitrd } from "../../formats/boot.js";
import type { ImageView } from "../../tasks/image.js";
import type { VerbContext } from "../verbs/index.js";
import { remoteOption, secretKeyOption } from "./remote.js";
import type { CommandInput } from "./session.js";

export function commandInput({ config, args }: VerbContext): CommandInput {
  const raw = new Map<ImageView, (typeof config.images)[number]>();
  const images = config.images.map((image) => {
    const view = checkImageConfig(image);
    raw.set(view, image);
    return view;
  });
  const tools = config.tools ? checkImageConfig(config.tools) : null;
  if (tools && config.tools) raw.set(tools, config.tools);
  // Default initrds: images of the graph too, resolved from mkosi's builtin initrd configuration.
  const initrds = new Map<string, ImageView>();
  for (const [index, view] of images.entries()) {
    if (!wantsDefaultInitrd(view as BootConfig)) continue;
    const image = config.images[index]!;
    // With the default tools tree the planner hands the initrd that tree; a directory is passed on.
    const toolsTree = config.tools ? null : ((image.ToolsTree as string | null | undefined) ?? null);
    const initrd = defaultInitrdConfig(image, { toolsTree });
    const initrdView = checkImageConfig(initrd);
    raw.set(initrdView, initrd);
    initrds.set(view.Image, initrdView);
  }
  return {
    images,
    tools,
    initrds,
    directory: args.directory ?? process.cwd(),
    force: args.force,
    rerunBuildScripts: args.rerunBuildScripts,
    wipeBuildDir: args.wipeBuildDir,
    cmdline: args.cmdline,
    debug: args.debug,
    debugShell: args.debugShell,
    debugWorkspace: args.debugWorkspace,
    json: args.json,
    remote: remoteOption(args),
    secretKey: secretKeyOption(args),
    secretSettings: SETTINGS.filter((setting) => setting.secret).map((setting) => jsonKey(setting.dest)),
    configJson: (image) => {
      const original = raw.get(image);
      if (!original) throw new Error(`internal error: no configuration for image ${image.Image}`);
      return imageConfigJson(original);
    },
  };
}
