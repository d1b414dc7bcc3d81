// Verb registry. Each verb lives in its own module exporting `handler`; modules are imported
// lazily so start-up stays fast. To add a verb, add a line to REGISTRY.
import type { ParsedArgs } from "../../config/args.js";
import type { ResolvedConfig } from "../../config/loader.js";

export interface VerbContext {
  config: ResolvedConfig;
  args: ParsedArgs;
}

export type VerbHandler = (ctx: VerbContext) => Promise<number>;

export interface VerbModule {
  handler: VerbHandler;
}

const REGISTRY = new Map<string, () => Promise<VerbModule>>([
  ["summary", () => import("./summary.js")],
  ["cat-config", () => import("./cat-config.js")],
  ["completion", () => import("./completion.js")],
  ["build", () => import("./build.js")],
  ["graph", () => import("./graph.js")],
  ["clean", () => import("./clean.js")],
  ["bump", () => import("./bump.js")],
  ["shell", () => import("./shell.js")],
  ["boot", () => import("./boot.js")],
  ["vm", () => import("./vm.js")],
  ["ssh", () => import("./ssh.js")],
  ["journalctl", () => import("./journalctl.js")],
  ["coredumpctl", () => import("./coredumpctl.js")],
  ["serve", () => import("./serve.js")],
  ["burn", () => import("./burn.js")],
  ["sysupdate", () => import("./sysupdate.js")],
  ["sandbox", () => import("./sandbox.js")],
  ["genkey", () => import("./genkey.js")],
  ["init", () => import("./init.js")],
  ["documentation", () => import("./documentation.js")],
  ["dependencies", () => import("./dependencies.js")],
]);

/** Lets other modules register verbs at runtime (e.g. tests). */
export function registerVerb(name: string, load: () => Promise<VerbModule>): void {
  REGISTRY.set(name, load);
}

export function isImplemented(verb: string): boolean {
  return REGISTRY.has(verb === "qemu" ? "vm" : verb);
}

export async function runVerb(verb: string, ctx: VerbContext): Promise<number> {
  const load = REGISTRY.get(verb === "qemu" ? "vm" : verb);
  // Every verb the parser accepts has a row (tests/runtime/units.test.ts checks it).
  if (!load) throw new Error(`internal error: no handler registered for verb ${verb}`);
  const mod = await load();
  return mod.handler(ctx);
}
