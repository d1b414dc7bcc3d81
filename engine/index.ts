export type * from "./api.js";
export { canonical, digestOf, EncodingError, sha256 } from "./encoding.js";
export { EngineImpl, type EngineExplanation, KEY_FORMAT, openEngine, type RunReason } from "./engine.js";
export { TaskCommandError } from "./exec.js";
