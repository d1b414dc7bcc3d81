// The configuration of an image as the build pipeline reads it: exactly what config/ resolves (the
// values of `mkosi --json summary`), typed from the settings table, keyed by JSON setting name.
export type { ConfigTree, Feature, ImageConfig as ImageView } from "../config/index.js";
