// `mkosi cat-config`: every configuration file each image was built from, as the reference prints
// them: one "### IMAGE: <name>" block per image in build order (not the tools tree), each file
// under a "# <path>" line (relative to the working directory when below it), blocks separated by
// a blank line.
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import type { ImageConfig } from "../../config/loader.js";
import type { VerbContext } from "./index.js";

function styled(): { bold: string; blue: string; reset: string } {
  const plain = !process.stdout.isTTY || !process.stderr.isTTY || process.env.TERM === "dumb";
  return plain
    ? { bold: "", blue: "", reset: "" }
    : { bold: "\x1b[0;1;39m", blue: "\x1b[0;1;34m", reset: "\x1b[0m" };
}

function shownPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel === "" ? "." : rel.startsWith("../") || rel === ".." ? path : rel;
}

export function catConfig(images: readonly ImageConfig[], cwd: string, style = styled()): string {
  const blocks = images.map((image) => {
    let block = `${style.bold}### IMAGE: ${image.Image}${style.reset}\n`;
    for (const file of image.Files)
      block += `${style.blue}# ${shownPath(file, cwd)}${style.reset}\n${readFileSync(file, "utf8")}\n`;
    return block;
  });
  return blocks.join("\n");
}

export async function handler({ config, args }: VerbContext): Promise<number> {
  const text = catConfig(config.images, args.directory ?? process.cwd());
  // Without the pager the reference prints the text with print(), which adds a newline.
  process.stdout.write(args.pager ? text : `${text}\n`);
  return 0;
}
