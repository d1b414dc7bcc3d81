// Kernel module selection for the kernel-modules initrd (KernelInitrdModules=,
// KernelModulesInitrdExclude=): the man page's pattern language, module dependencies from modules.dep,
// and the firmware the selected modules ask for.
//
// Patterns are evaluated in order and the last one that matches a module decides; a `-` prefix
// excludes. A pattern without a slash matches the module's name, a relative path the final components
// of its path, an absolute path its whole path below `kernel/`; a trailing slash matches everything below
// a directory; `re:` patterns are regular expressions (the *Include= spellings). `-` and `_` are the
// same in module names; compression suffixes are ignored. No patterns at all keep every module.
import { readFile } from "node:fs/promises";

const MODULE_SUFFIX = /\.ko(\.(xz|zst|gz))?$/;

/** `kernel/drivers/block/loop.ko.xz` → `drivers/block/loop` with `_` for `-`. */
export function normalizeModulePath(rel: string): string {
  const below = rel.replace(/^(.*?\/)?kernel\//, "");
  return below.replace(MODULE_SUFFIX, "").replace(/-/g, "_");
}

function globToRegex(glob: string): string {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        const body = glob.slice(i + 1, end);
        re += `[${body.startsWith("!") ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return re;
}

interface Rule {
  include: boolean;
  test: (path: string) => boolean;
}

function ruleOf(pattern: string): Rule {
  let include = true;
  let p = pattern;
  if (p.startsWith("-")) {
    include = false;
    p = p.slice(1);
  }
  if (p.startsWith("re:")) {
    const re = new RegExp(p.slice(3));
    return { include, test: (path) => re.test(path) };
  }
  p = p.replace(/-/g, "_").replace(MODULE_SUFFIX, "");
  const dir = p.endsWith("/");
  const body = globToRegex(p.replace(/^\/+|\/+$/g, ""));
  const anchored = p.startsWith("/");
  const source = dir
    ? `${anchored ? "^" : "(^|/)"}${body}/`
    : p.includes("/")
      ? `${anchored ? "^" : "(^|/)"}${body}$`
      : `(^|/)${body}$`;
  const re = new RegExp(source);
  return { include, test: (path) => re.test(path) };
}

/**
 * The modules (paths relative to /usr/lib/modules/<kver>) the patterns select. `defaults` replaces the
 * special value `default` (the default initrd's KernelModules=); `host` is not supported here.
 */
export function selectModules(modules: string[], patterns: string[], defaults: string[] = []): string[] {
  const expanded = patterns.flatMap((p) => (p === "default" ? defaults : p === "host" ? [] : [p]));
  if (expanded.length === 0) return [...modules].sort();
  const rules = expanded.map(ruleOf);
  return modules
    .filter((rel) => {
      const path = normalizeModulePath(rel);
      let keep = false;
      for (const rule of rules) if (rule.test(path)) keep = rule.include;
      return keep;
    })
    .sort();
}

/** modules.dep: module → the modules it needs (paths relative to the kver directory). */
export function parseModulesDep(text: string): Map<string, string[]> {
  const deps = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const rest = line.slice(colon + 1).trim();
    deps.set(line.slice(0, colon), rest ? rest.split(/\s+/) : []);
  }
  return deps;
}

/** `selected` and everything they depend on, transitively. */
export function withDependencies(selected: string[], deps: Map<string, string[]>): string[] {
  const out = new Set<string>();
  const stack = [...selected];
  while (stack.length > 0) {
    const m = stack.pop()!;
    if (out.has(m)) continue;
    out.add(m);
    for (const d of deps.get(m) ?? []) stack.push(d);
  }
  return [...out].sort();
}

/** The firmware files a module names (`firmware=` entries of its .modinfo section). Compressed modules
 * are read through `decompress` (a function returning the uncompressed bytes). */
export async function moduleFirmware(
  path: string,
  decompress?: (path: string) => Promise<Buffer>,
): Promise<string[]> {
  const data = MODULE_SUFFIX.exec(path)?.[1] ? await decompress?.(path) : await readFile(path);
  if (!data) return [];
  const out: string[] = [];
  const marker = Buffer.from("\0firmware=");
  let at = data.indexOf(marker);
  while (at >= 0) {
    const start = at + marker.length;
    const end = data.indexOf(0, start);
    out.push(data.subarray(start, end < 0 ? data.length : end).toString("utf8"));
    at = data.indexOf(marker, start);
  }
  return out;
}
