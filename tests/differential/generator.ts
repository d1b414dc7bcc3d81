// The edit generator: each step draws one kind of edit (weighted) that applies to the tree as it is now and
// turns it into concrete, self-contained edits (ops.ts). Kinds are built from a variant's pools (which
// trees, which paths, which settings and values), so the Distribution=custom and Debian variants share them.
import { type BigIntStats, lstatSync, readdirSync, readFileSync } from "node:fs";
import { renderConf, type Settings } from "./conf.js";
import { escapeBytes, unescapeBytes } from "./listing.js";
import type { Data, Op } from "./ops.js";
import type { Prng } from "./prng.js";

export interface Entry {
  /** Relative to the configuration directory, escaped bytes. */
  path: string;
  type: "f" | "d" | "l" | "o";
}

/** Entries below `sub` of the configuration directory (not `sub` itself), sorted by their bytes. */
export function scan(root: string, sub: string): Entry[] {
  const out: Entry[] = [];
  const walk = (abs: Buffer, rel: string) => {
    let names: Buffer[];
    try {
      names = readdirSync(abs, { encoding: "buffer" }).sort(Buffer.compare);
    } catch {
      return;
    }
    for (const name of names) {
      const childAbs = Buffer.concat([abs, Buffer.from("/"), name]);
      const childRel = `${rel}/${escapeBytes(name)}`;
      const st: BigIntStats = lstatSync(childAbs, { bigint: true });
      const type = st.isFile() ? "f" : st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : "o";
      out.push({ path: childRel, type });
      if (type === "d") walk(childAbs, childRel);
    }
  };
  walk(Buffer.concat([Buffer.from(`${root}/`), unescapeBytes(sub)]), sub);
  return out;
}

export interface EditContext {
  rng: Prng;
  /** The configuration directory. */
  root: string;
  /** The main mkosi.conf's model. */
  settings: Settings;
}

export interface EditKind {
  name: string;
  weight: number;
  /** The edit's ops, or undefined when it does not apply to the tree as it is. */
  make(ctx: EditContext): Op[] | undefined;
  /** The edit changes no input's meaning: the output must stay exactly as it was. */
  noop?: boolean;
}

export interface Step {
  kind: string;
  ops: Op[];
  noop: boolean;
}

/** Draw one applicable edit. */
export function generateStep(kinds: readonly EditKind[], ctx: EditContext): Step {
  for (let attempt = 0; attempt < 100; attempt++) {
    const kind = ctx.rng.weighted(kinds.map((k) => [k, k.weight] as const));
    const ops = kind.make(ctx);
    if (ops && ops.length > 0) return { kind: kind.name, ops, noop: kind.noop ?? false };
  }
  throw new Error("differential: no edit applies to the tree (the variant's pools are too narrow)");
}

// Contents ---------------------------------------------------------------------------------------------

/** File content: a few lines of tokens, sometimes empty, sometimes bytes that are not text. */
export function randomData(rng: Prng): Data {
  const roll = rng.int(10);
  if (roll === 0) return "";
  if (roll === 1) {
    const bytes = Buffer.alloc(1 + rng.int(64));
    for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
    return { bytes: escapeBytes(bytes) };
  }
  const lines: string[] = [];
  for (let i = 0, n = 1 + rng.int(3); i < n; i++) lines.push(rng.token(4 + rng.int(8)));
  return `${lines.join("\n")}\n`;
}

const FILE_MODES = [0o644, 0o600, 0o755, 0o700, 0o444, 0o640, 0o4755, 0o2755];
const DIR_MODES = [0o755, 0o700, 0o750, 0o1777, 0o2775];
const OWNERS: [number, number][] = [
  [0, 0],
  [1000, 1000],
  [65534, 65534],
  [0, 1000],
];

// Trees ------------------------------------------------------------------------------------------------

export interface TreePools {
  /** Tree directories (relative to the configuration directory) whose files the edits change. */
  roots: string[];
  /** Leaf paths inside a tree (escaped bytes): always files or symlinks, never directories. */
  files: string[];
  /** Directory paths inside a tree: always directories. Every file's parent is one of them (or the root). */
  dirs: string[];
  /** Symlink targets for a leaf path. Absolute targets and `..` that leave the image must not point to
   * anything on the host: a tree is copied by programs that run on the host. */
  linkTargets(leaf: string): string[];
}

function depth(leaf: string): number {
  return leaf.split("/").length - 1;
}

/** Safe symlink targets for a leaf: siblings, paths from the image root through enough `..`, and absolute
 * paths into a directory that exists on no host (dangling everywhere, also on the build host). */
export function defaultLinkTargets(files: string[]): (leaf: string) => string[] {
  return (leaf) => {
    const up = "../".repeat(depth(leaf));
    const dir = leaf.includes("/") ? leaf.slice(0, leaf.lastIndexOf("/") + 1) : "";
    const siblings = files.filter(
      (f) => f !== leaf && f.startsWith(dir) && !f.slice(dir.length).includes("/"),
    );
    return [
      ...siblings.map((f) => f.slice(dir.length)),
      ...files.filter((f) => f !== leaf).map((f) => `${up}${f}`),
      "/nonexistent-mkosi-differential/target",
      `${up}usr`,
    ];
  };
}

function entriesOf(root: string, pools: TreePools): Entry[] {
  return pools.roots.flatMap((tree) => scan(root, tree));
}

/** Edits of files, directories, links, modes, owners, xattrs and names inside the variant's trees. */
export function treeEdits(pools: TreePools, weight = 1): EditKind[] {
  const inTree = (rng: Prng) => rng.pick(pools.roots);
  const existing = (ctx: EditContext, filter: (e: Entry) => boolean) => {
    const entries = entriesOf(ctx.root, pools).filter(filter);
    return entries.length > 0 ? ctx.rng.pick(entries) : undefined;
  };
  return [
    {
      name: "write file",
      weight: 6 * weight,
      make: ({ rng }) => {
        const op: Op = {
          op: "write",
          path: `${inTree(rng)}/${rng.pick(pools.files)}`,
          data: randomData(rng),
        };
        if (rng.chance(0.3)) op.mode = rng.pick(FILE_MODES);
        return [op];
      },
    },
    {
      name: "chmod",
      weight: 2 * weight,
      make: (ctx) => {
        const e = existing(ctx, (x) => x.type === "f" || x.type === "d");
        if (!e) return undefined;
        return [{ op: "chmod", path: e.path, mode: ctx.rng.pick(e.type === "d" ? DIR_MODES : FILE_MODES) }];
      },
    },
    {
      name: "chown",
      weight: 1.5 * weight,
      make: (ctx) => {
        const e = existing(ctx, () => true);
        if (!e) return undefined;
        const [uid, gid] = ctx.rng.pick(OWNERS);
        return [{ op: "chown", path: e.path, uid, gid }];
      },
    },
    {
      name: "symlink",
      weight: 2 * weight,
      make: ({ rng }) => {
        const leaf = rng.pick(pools.files);
        return [{ op: "symlink", path: `${inTree(rng)}/${leaf}`, target: rng.pick(pools.linkTargets(leaf)) }];
      },
    },
    {
      name: "remove",
      weight: 2 * weight,
      make: (ctx) => {
        const e = existing(ctx, () => true);
        return e && [{ op: "remove", path: e.path }];
      },
    },
    {
      name: "mkdir",
      weight: 1 * weight,
      make: ({ rng }) => {
        const op: Op = { op: "mkdir", path: `${inTree(rng)}/${rng.pick(pools.dirs)}` };
        if (rng.chance(0.4)) op.mode = rng.pick(DIR_MODES);
        return [op];
      },
    },
    {
      name: "rename",
      weight: 1 * weight,
      make: (ctx) => {
        const e = existing(ctx, (x) => x.type === "f" || x.type === "l");
        if (!e) return undefined;
        const tree = pools.roots.find((r) => e.path.startsWith(`${r}/`))!;
        const to = `${tree}/${ctx.rng.pick(pools.files)}`;
        return to === e.path ? undefined : [{ op: "rename", from: e.path, to }];
      },
    },
    {
      name: "xattr",
      weight: 1 * weight,
      make: (ctx) => {
        const e = existing(ctx, (x) => x.type === "f" || x.type === "d");
        if (!e) return undefined;
        const name = ctx.rng.pick(["user.mkosi.a", "user.mkosi.b"]);
        return [{ op: "xattr", path: e.path, name, value: ctx.rng.chance(0.25) ? null : ctx.rng.token(5) }];
      },
    },
  ];
}

/** The user removes the outputs (the cache stays): the next build must publish them again. */
export function outputRemovalEdits(weight = 1): EditKind[] {
  return [{ name: "outputs removed", weight, make: () => [{ op: "remove-outputs" }] }];
}

/** Edits that change no input's meaning: new times, the same bytes written again, a setting set to the
 * value it has. The output must not change. */
export function noopEdits(subtrees: string[], weight = 1): EditKind[] {
  const anyFile = (ctx: EditContext, filter: (e: Entry) => boolean) => {
    const entries = subtrees.flatMap((s) => scan(ctx.root, s)).filter(filter);
    return entries.length > 0 ? ctx.rng.pick(entries) : undefined;
  };
  return [
    {
      name: "touch",
      weight: 1.5 * weight,
      noop: true,
      make: (ctx) => {
        const e = anyFile(ctx, (x) => x.type === "f" || x.type === "d");
        return e && [{ op: "touch", path: e.path }];
      },
    },
    {
      name: "rewrite same content",
      weight: 1.5 * weight,
      noop: true,
      make: (ctx) => {
        const e = anyFile(ctx, (x) => x.type === "f");
        return e && [{ op: "rewrite", path: e.path }];
      },
    },
    {
      name: "set a setting to its value",
      weight: 0.5 * weight,
      noop: true,
      make: (ctx) => {
        const keys = [...ctx.settings.keys()];
        const key = ctx.rng.pick(keys);
        return [{ op: "set", key, value: ctx.settings.get(key)! }];
      },
    },
  ];
}

// Settings ---------------------------------------------------------------------------------------------

/** Values a setting may take; null removes it from mkosi.conf. */
export type SettingChoices = Record<string, (string | null)[]>;

/** Set one setting of the main mkosi.conf to another of its values. */
export function settingEdits(choices: SettingChoices, weight = 1): EditKind[] {
  return [
    {
      name: "setting",
      weight: 5 * weight,
      make: ({ rng, settings }) => {
        const key = rng.pick(Object.keys(choices));
        const current = settings.get(key) ?? null;
        const others = choices[key]!.filter((v) => v !== current);
        if (others.length === 0) return undefined;
        return [{ op: "set", key, value: rng.pick(others) }];
      },
    },
  ];
}

/** mkosi.conf.d/ drop-ins: added with one or two settings, removed, renamed (which reorders them). */
export function dropinEdits(choices: SettingChoices, names: string[], weight = 1): EditKind[] {
  const dropins = (ctx: EditContext) => scan(ctx.root, "mkosi.conf.d").filter((e) => e.type === "f");
  return [
    {
      name: "drop-in add/replace",
      weight: 2 * weight,
      make: ({ rng }) => {
        const keys = rng.shuffle(Object.keys(choices)).slice(0, 1 + rng.int(2));
        const settings: [string, string][] = [];
        for (const key of keys) {
          const value = rng.pick(choices[key]!.filter((v): v is string => v !== null));
          settings.push([key, value]);
        }
        return [{ op: "write", path: `mkosi.conf.d/${rng.pick(names)}`, data: renderConf(settings) }];
      },
    },
    {
      name: "drop-in remove",
      weight: 1 * weight,
      make: (ctx) => {
        const all = dropins(ctx);
        return all.length ? [{ op: "remove", path: ctx.rng.pick(all).path }] : undefined;
      },
    },
    {
      name: "drop-in rename",
      weight: 0.5 * weight,
      make: (ctx) => {
        const all = dropins(ctx);
        if (all.length === 0) return undefined;
        const from = ctx.rng.pick(all).path;
        const to = `mkosi.conf.d/${ctx.rng.pick(names)}`;
        return from === to ? undefined : [{ op: "rename", from, to }];
      },
    },
  ];
}

// Scripts ----------------------------------------------------------------------------------------------

/** Shell lines a script of a kind may be made of; each is guarded so that the script never fails. */
export type ScriptActions = (rng: Prng) => string;

export interface ScriptSlot {
  /** Path of the script (relative to the configuration directory). */
  path: string;
  actions: ScriptActions;
}

export function scriptText(rng: Prng, actions: ScriptActions): string {
  const lines = ["#!/bin/sh", "set -e"];
  for (let i = 0, n = 1 + rng.int(4); i < n; i++) lines.push(actions(rng));
  return `${lines.join("\n")}\n`;
}

/** Add, replace, remove and reorder scripts (a `.d` directory runs its scripts in name order). */
export function scriptEdits(slots: ScriptSlot[], weight = 1): EditKind[] {
  return [
    {
      name: "script add/replace",
      weight: 4 * weight,
      make: ({ rng }) => {
        const slot = rng.pick(slots);
        return [{ op: "write", path: slot.path, data: scriptText(rng, slot.actions), mode: 0o755 }];
      },
    },
    {
      name: "script edit (one line added)",
      weight: 2 * weight,
      make: (ctx) => {
        const present = slots.filter((s) => isFile(ctx.root, s.path));
        if (present.length === 0) return undefined;
        const slot = ctx.rng.pick(present);
        return [
          {
            op: "write",
            path: slot.path,
            data: `${scriptOf(ctx.root, slot.path)}${slot.actions(ctx.rng)}\n`,
            mode: 0o755,
          },
        ];
      },
    },
    {
      name: "script remove",
      weight: 1.5 * weight,
      make: (ctx) => {
        const slot = ctx.rng.pick(slots);
        return isFile(ctx.root, slot.path) ? [{ op: "remove", path: slot.path }] : undefined;
      },
    },
    {
      name: "script reorder",
      weight: 1 * weight,
      make: (ctx) => {
        const dirs = [
          ...new Set(slots.filter((s) => s.path.includes(".d/")).map((s) => s.path.replace(/\/[^/]*$/, ""))),
        ];
        if (dirs.length === 0) return undefined;
        const dir = ctx.rng.pick(dirs);
        const present = scan(ctx.root, dir).filter((e) => e.type === "f");
        if (present.length < 2) return undefined;
        // Swap the first two by name: the later one runs first.
        const [a, b] = [present[0]!.path, present[1]!.path];
        const tmp = `${dir}/.swap`;
        return [
          { op: "rename", from: a, to: tmp },
          { op: "rename", from: b, to: a },
          { op: "rename", from: tmp, to: b },
        ];
      },
    },
  ];
}

function scriptOf(root: string, path: string): string {
  try {
    return readFileSync(`${root}/${path}`, "utf8");
  } catch {
    return "#!/bin/sh\nset -e\n";
  }
}

/** Is there a regular file at `path` (relative to the configuration directory)? */
function isFile(root: string, path: string): boolean {
  try {
    return lstatSync(`${root}/${path}`).isFile();
  } catch {
    return false;
  }
}
