// Edges between images from what their steps read. A path a step declares (a tree, a package directory,
// a tools tree, …) that resolves into the output of an image built before it (`%O/alpha`,
// `%O/minimal-0.root-x86-64.raw`) is not fingerprinted where it lies at planning time: the step depends
// on the node that publishes that output and keys on its output digest, so it runs after the producer
// has published and reruns exactly when the producer's output changed. Steps that run user scripts may
// read anything (the planner cannot know what), so they depend on every image of their Dependencies=.
// Steps that read nothing of another image keep no edge to it and run in parallel with it.
import { readdirSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";
import type { DeclaredInputs, NodeId, PathDeclaration, PathInput, TaskDefinition } from "../engine/api.js";
import { outputNames } from "../formats/naming.js";
import { formatOf } from "../formats/registry.js";
import type { ImageView } from "./image.js";
import { outputDirectory } from "./outputs.js";

/** What one image leaves in its output directory, and the node after which it is there. */
export interface ImageOutputs {
  image: string;
  directory: string;
  /** Output=: every name the image publishes is this or starts with it and a dot. */
  output: string;
  /** The node that places the outputs there (publish). Its output digest identifies what it published.
   * Undefined: the image publishes nothing (Format=none). */
  node: NodeId | undefined;
  /** Scripts that may write any name into the output directory ($OUTPUTDIR). */
  anyName: boolean;
}

export function imageOutputs(image: ImageView, configDir: string, publish: NodeId | undefined): ImageOutputs {
  const scriptsWriteOutputs =
    image.PostInstallationScripts.length > 0 ||
    image.FinalizeScripts.length > 0 ||
    image.PostOutputScripts.length > 0;
  return {
    image: image.Image,
    directory: resolve(outputDirectory(image, configDir)),
    output: outputNames(image).output,
    node: publish,
    anyName: scriptsWriteOutputs,
  };
}

/**
 * Whether `path`, read by `images[index]`, is an output another image of this build publishes before it
 * reads it (`%O/alpha`, a split artifact, a file a script writes to $OUTPUTDIR): it need not exist before
 * the build. `images` in build order, as the planner gets them.
 */
export function producedInBuild(images: readonly ImageView[], configDir: string) {
  // Computed on first use: preflight checks the names outputs are made of (ImageId=../x) before that.
  let outputs: ImageOutputs[] | undefined;
  return (index: number, path: string): boolean => {
    try {
      outputs ??= images.map((image) =>
        imageOutputs(
          image,
          configDir,
          formatOf(image.Format).buildOnly ? undefined : `${image.Image}/publish`,
        ),
      );
    } catch {
      return false; // an output name preflight reports
    }
    return new OutputMap(outputs.slice(0, index), outputs).read(path).kind === "inside";
  };
}

function within(parent: string, path: string): boolean {
  const rel = relative(parent, path);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
}

function ownsName(outputs: ImageOutputs, name: string): boolean {
  return name === outputs.output || name.startsWith(`${outputs.output}.`);
}

function isExcluded(rel: string, exclude: readonly string[]): boolean {
  return exclude.some((e) => rel === e || rel.startsWith(`${e}/`));
}

/** How a declared path relates to other images' outputs. */
export type PathReading =
  /** Inside one image's output (or one of several that may have written it): replaced by its node. */
  | { kind: "inside"; nodes: NodeId[] }
  /** A directory holding outputs (the output directory or above): still fingerprinted, without the
   * images' outputs, which its nodes stand for. */
  | { kind: "contains"; nodes: NodeId[]; exclude: string[] }
  | { kind: "unrelated" };

/**
 * The images whose outputs a step may read, with the rule that tells which of them a path reads:
 * `producers` are the images built before the reading image (its possible producers); `all` are every
 * image of the build (their outputs are never fingerprinted as a containing directory's content).
 */
export class OutputMap {
  constructor(
    readonly producers: readonly ImageOutputs[],
    readonly all: readonly ImageOutputs[],
  ) {}

  read(path: string, exclude: readonly string[] = []): PathReading {
    const target = resolve(path);
    // Inside an output directory: the image whose Output= names the entry (the longest that matches).
    const inDirectory = this.producers.filter((p) => p.node && within(p.directory, target));
    if (inDirectory.length > 0) {
      const name = relative(inDirectory[0]!.directory, target).split("/")[0]!;
      const owners = inDirectory
        .filter((p) => ownsName(p, name))
        .sort((a, b) => b.output.length - a.output.length);
      if (owners.length > 0) return { kind: "inside", nodes: [owners[0]!.node!] };
      // A name no image's Output= gives: written by scripts through $OUTPUTDIR, or the user's own file.
      const writers = inDirectory.filter((p) => p.anyName && p.node).map((p) => p.node!);
      const mine = this.all.some((p) => !this.producers.includes(p) && ownsName(p, name));
      if (writers.length > 0 && !mine) return { kind: "inside", nodes: writers };
      return { kind: "unrelated" };
    }
    // The output directory itself or a directory above it.
    const below = this.producers.filter(
      (p) =>
        p.node &&
        (p.directory === target || within(target, p.directory)) &&
        !isExcluded(relative(target, p.directory), exclude),
    );
    if (below.length === 0) return { kind: "unrelated" };
    const excluded = new Set<string>();
    for (const directory of new Set(below.map((p) => p.directory))) {
      const prefix = relative(target, directory);
      const images = this.all.filter((p) => p.directory === directory);
      let names: string[] = [];
      try {
        names = readdirSync(directory);
      } catch {
        // Nothing there yet: nothing to leave out.
      }
      for (const name of names)
        if (images.some((p) => ownsName(p, name))) excluded.add(prefix ? `${prefix}/${name}` : name);
    }
    return {
      kind: "contains",
      nodes: [...new Set(below.map((p) => p.node!))],
      exclude: [...excluded].sort(),
    };
  }
}

function pathOf(input: PathInput | string | null): PathInput | undefined {
  if (input === null) return undefined;
  return typeof input === "string" ? { path: input } : input;
}

/**
 * A step's declared inputs with its reads of other images' outputs turned into dependencies (labelled
 * by the producer's node id, so explain says "upstream alpha/publish output changed"), plus `whole`:
 * the nodes it depends on because it may read anything of those images (scripts).
 */
export function crossImageInputs(inputs: DeclaredInputs, map: OutputMap, whole: NodeId[]): DeclaredInputs {
  const deps: Record<string, NodeId> = { ...(inputs.deps ?? {}) };
  const taken = new Set(Object.values(deps));
  const depend = (node: NodeId) => {
    if (taken.has(node)) return;
    taken.add(node);
    deps[node] = node;
  };
  let paths = inputs.paths;
  if (inputs.paths) {
    const kept: PathDeclaration[] = [];
    for (const [label, input] of inputs.paths) {
      const declared = pathOf(input);
      const reading = declared ? map.read(declared.path, declared.exclude) : { kind: "unrelated" as const };
      if (reading.kind === "inside") {
        reading.nodes.forEach(depend);
        continue;
      }
      if (reading.kind === "contains" && declared) {
        reading.nodes.forEach(depend);
        const exclude = [...new Set([...(declared.exclude ?? []), ...reading.exclude])].sort();
        kept.push([label, { ...declared, exclude }]);
        continue;
      }
      kept.push([label, input]);
    }
    paths = kept;
  }
  whole.forEach(depend);
  const result: DeclaredInputs = { ...inputs };
  if (paths) result.paths = paths;
  if (Object.keys(deps).length > 0) result.deps = deps;
  return result;
}

/** `task` with its declared inputs passed through crossImageInputs (same name, version and run). */
export function crossImageTask<P>(
  task: TaskDefinition<P>,
  map: OutputMap,
  whole: NodeId[],
): TaskDefinition<P> {
  return { ...task, inputs: (params) => crossImageInputs(task.inputs(params), map, whole) };
}

/** Does this step run user scripts (so it may read anything, other images' outputs included)? */
export function runsScripts(step: string, image: ImageView): boolean {
  switch (step) {
    case "prepare":
    case "build-overlay":
      return image.PrepareScripts.length > 0;
    case "build":
      return image.BuildScripts.length > 0;
    case "postinst":
      return image.PostInstallationScripts.length > 0;
    case "finalize":
      return image.FinalizeScripts.length > 0;
    case "publish":
      return image.PostOutputScripts.length > 0;
    default:
      return false;
  }
}

/** Names of `image`'s dependencies, transitively (Dependencies= of its dependencies too). */
export function dependencyClosure(image: ImageView, byName: Map<string, ImageView>): string[] {
  const seen = new Set<string>();
  const stack = [...image.Dependencies];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (seen.has(name) || name === image.Image) continue;
    seen.add(name);
    stack.push(...(byName.get(name)?.Dependencies ?? []));
  }
  return [...seen];
}
