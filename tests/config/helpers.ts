import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach } from "vitest";
import { parseArgs } from "../../cli/args.js";
import type { ImageConfig, ResolvedConfig } from "../../config/loader.js";
import { Loader } from "../../config/loader.js";

process.env.MKOSI_HOST_DISTRIBUTION = "debian";
process.env.MKOSI_HOST_RELEASE = "bookworm";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Creates a config tree: { "mkosi.conf": "…", "mkosi.conf.d/a.conf": "…", "dir/": null }. */
export function tree(files: Record<string, string | null>, modes: Record<string, number> = {}): string {
  const d = realpathSync(mkdtempSync(join(tmpdir(), "mkosi-cfg-")));
  dirs.push(d);
  for (const [p, content] of Object.entries(files)) {
    const full = join(d, p);
    if (content === null) mkdirSync(full, { recursive: true });
    else {
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, content);
    }
  }
  for (const [p, mode] of Object.entries(modes)) chmodSync(join(d, p), mode);
  return d;
}

export function load(dir: string, argv: string[] = [], warnings: string[] = []): ResolvedConfig {
  const { args } = parseArgs([...argv, "summary"], dir);
  return new Loader(args, { ...process.env, HOME: "/home/test" }, (m) => warnings.push(m)).load();
}

/** The main image of a tree. */
export function main(files: Record<string, string | null>, argv: string[] = []): ImageConfig {
  const dir = tree(files);
  const r = load(dir, argv);
  return r.images[r.images.length - 1] as ImageConfig;
}

export function conf(text: string, argv: string[] = []): ImageConfig {
  return main({ "mkosi.conf": text }, argv);
}
