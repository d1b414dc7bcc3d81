// Sync scripts (SyncScripts=, mkosi.sync): run before anything else, because they may update the build
// sources every other step's key reads. They act outside the cache (on the source tree), so the node
// runs on every build and is planned in a graph of its own, ahead of the image graph.
import type { TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import type { TerminalHandoff } from "../../sandbox/run.js";
import { runScripts } from "../../sandbox/scripts.js";
import { debugShellOf } from "../env.js";
import type { ImageView } from "../image.js";
import { declareScriptInputs, type ScriptInputs, scriptInputs, scriptRunBase } from "../scriptinputs.js";
import type { Step } from "../step.js";
import { type ToolsTree, toolInputs, withToolInputs, withToolsTree } from "../toolstree.js";

interface Params {
  image: ImageView;
  scripts: ScriptInputs;
  uid: number;
  gid: number;
  /** --debug-shell (not an input: it only acts after a failure). */
  debugShell?: TerminalHandoff;
  /** The tools tree the scripts see as the host's /usr. */
  tools: ToolsTree | null;
}

const task: TaskDefinition<Params> = {
  name: "sync",
  implementation: implementationDigest(import.meta.url),
  cache: "always",
  // Like the other scripts: the default tools tree's digest is an input, a directory is not fingerprinted.
  inputs: (p) =>
    p.tools?.kind === "image"
      ? withToolInputs(declareScriptInputs(p.scripts), toolInputs(p.tools, []))
      : declareScriptInputs(p.scripts),
  async run(ctx, p) {
    await withToolsTree(ctx, p.tools, (tools) =>
      runScripts({
        ...scriptRunBase(ctx, p),
        tools,
      }),
    );
    return undefined;
  },
};

export const sync: Step<Params> = {
  name: "sync",
  task,
  reads: "all",
  unkeyed: { Seed: "random on every invocation unless configured (sync scripts run on every build anyway)" },
  layer: false,
  wanted: (image) => image.SyncScripts.length > 0,
  params: ({ image, env, tools }) => ({
    image,
    scripts: scriptInputs("sync", image.SyncScripts, image, env),
    uid: env.uid,
    gid: env.gid,
    debugShell: debugShellOf(env),
    tools,
  }),
};
