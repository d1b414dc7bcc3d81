// builddir: the state of the build directory (BuildDirectory=) that post-installation and finalize scripts
// see as $BUILDDIR. The directory is mkosi's incremental build state, outside the cache: build steps (this
// image's and its dependencies') change it whenever they run, even when their own output comes out
// identical, and the user may too. So this node runs on every build, after those steps, and its output is a
// listing of what is there (names, types, modes, sizes, modification times; no contents): the scripts
// rerun when it changed and stay cached when an incremental build touched nothing. Only images that have
// such scripts get it; the build steps' own outputs (what other steps key on) do not include it.
import { createHash } from "node:crypto";
import { lstat, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { NodeId, TaskDefinition } from "../../engine/api.js";
import { implementationDigest } from "../../engine/implementation.js";
import type { Step } from "../step.js";

interface Params {
  buildDir: string;
  /** The build steps that write it (ordering: the state is read after they ran). */
  writers: NodeId[];
}

/** Names, types, modes, sizes and modification times of everything below `dir`, in a stable order. */
async function listing(dir: string): Promise<string> {
  const lines: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(dir, rel))).sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(dir, path), { bigint: true });
      lines.push(`${path}\t${st.mode}\t${st.size}\t${st.mtimeNs}`);
      if (st.isDirectory()) await walk(path);
    }
  };
  await walk("");
  return lines.join("\n");
}

const task: TaskDefinition<Params> = {
  name: "builddir",
  implementation: implementationDigest(import.meta.url),
  cache: "always",
  inputs: (p) => ({
    values: { BuildDirectory: p.buildDir },
    deps: Object.fromEntries(p.writers.map((id) => [id, id])),
  }),
  async run(ctx, p) {
    await mkdir(p.buildDir, { recursive: true });
    const digest = createHash("sha256")
      .update(await listing(p.buildDir))
      .digest("hex");
    await writeFile(join(ctx.out, "state"), `${digest}\n`);
    return undefined;
  },
};

export const builddir: Step<Params> = {
  name: "builddir",
  task,
  reads: ["BuildDirectory", "BuildSubdirectory", "PostInstallationScripts", "FinalizeScripts"],
  unkeyed: {
    BuildSubdirectory: "the path is a value of this node (BuildDirectory)",
    PostInstallationScripts: "only whether this node exists (the graph's shape)",
    FinalizeScripts: "only whether this node exists (the graph's shape)",
  },
  layer: false,
  wanted: (image) =>
    Boolean(image.BuildSubdirectory ?? image.BuildDirectory) &&
    (image.PostInstallationScripts.length > 0 || image.FinalizeScripts.length > 0),
  params: ({ image, nodes, dependencyBuilds }) => ({
    buildDir: (image.BuildSubdirectory ?? image.BuildDirectory) as string,
    writers: [...(nodes.build ? [nodes.build] : []), ...dependencyBuilds],
  }),
};
