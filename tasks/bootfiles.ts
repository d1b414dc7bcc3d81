// What the boot steps hand each other through artifact metadata.
import type { Json } from "../engine/api.js";

/** The kernel step's metadata: the kernels found (newest first) and whether a microcode initrd exists.
 * Its artifact holds <version>/vmlinuz, <version>/modules.initrd and microcode.initrd. */
export interface KernelMeta {
  kernels: { version: string; image: string }[];
  microcode: boolean;
  [key: string]: Json;
}
