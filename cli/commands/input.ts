// Turns the loaded configuration and parsed arguments into the input of the build and graph commands.
import { checkImageConfig } from "../../config/image.js";
import { imageConfigJson } from "../../config/json.js";
import { jsonKey, SETTINGS } from "../../config/settings/index.js";
import type { ImageView } from "../../tasks/image.js";
import type { VerbContext } from "../verbs/index.js";
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
  return {
    images,
    tools,
    directory: args.directory ?? process.cwd(),
    force: args.force,
    rerunBuildScripts: args.rerunBuildScripts,
    wipeBuildDir: args.wipeBuildDir,
    cmdline: args.cmdline,
    debug: args.debug,
    debugShell: args.debugShell,
    debugWorkspace: args.debugWorkspace,
    json: args.json,
    secretSettings: SETTINGS.filter((setting) => setting.secret).map((setting) => jsonKey(setting.dest)),
    configJson: (image) => {
      const original = raw.get(image);
      if (!original) throw new Error(`internal error: no configuration for image ${image.Image}`);
      return imageConfigJson(original);
    },
  };
}
