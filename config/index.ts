// Public API of the configuration system.
export { argsToJson, type CliAssignment, defaultArgs, type ParsedArgs } from "./args.js";
export { ConfigError } from "./errors.js";
export { checkImageConfig, type ImageConfig, imageConfigProblems, type SettingName } from "./image.js";
export { dumpJson, imageConfigJson, summaryJson } from "./json.js";
export {
  expandKeySpecifiers,
  Loader,
  loadConfig,
  type ResolvedConfig,
  resourcesDir,
} from "./loader.js";
export type { ConfigTree } from "./paths.js";
export { jsonKey, SETTINGS, SETTINGS_BY_DEST, SETTINGS_BY_NAME } from "./settings/index.js";
export type { Scope, Section, Setting } from "./settings/types.js";
export type { Feature } from "./values.js";
