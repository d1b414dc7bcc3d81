export type * from "./api.js";
export { canonical, digestOf, EncodingError, sha256 } from "./encoding.js";
export {
  type EngineExplanation,
  EngineImpl,
  type EngineTuning,
  KEY_FORMAT,
  openEngine,
  type RunReason,
} from "./engine.js";
export { TaskCommandError } from "./exec.js";
export type { FingerprintStats } from "./fingerprint.js";
