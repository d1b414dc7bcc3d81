// The upstream mkosi this implementation follows: its version string and the commit of its behaviour.
export const MKOSI_VERSION = "26~devel";
export const MKOSI_COMMIT = "4c021322d87a1ee8c8f8e7fd042ec3f3cb808b15";
