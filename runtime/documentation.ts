// `mkosi documentation [manual]`: the man page shipped in docs/man/, shown as --doc-format= says: `man`
// (a prebuilt roff page, when the package ships one), `pandoc` (converted on the fly), `markdown` (the
// source, through a pager on a terminal), `system` (the installed `man mkosi`); `auto` tries them in
// that order.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { RuntimeError } from "./host.js";
import { findTool } from "./tools.js";

const DOCS = resolve(import.meta.dirname, "../../docs/man");

/** Manual names the verb accepts → the page's base name. */
const MANUALS: Record<string, string> = {
  mkosi: "mkosi.1",
  "mkosi-initrd": "mkosi-initrd.1",
  initrd: "mkosi-initrd.1",
  "mkosi-sandbox": "mkosi-sandbox.1",
  sandbox: "mkosi-sandbox.1",
  "mkosi.news": "mkosi.news.7",
  news: "mkosi.news.7",
};

type Shown = "shown" | "unavailable";

function page(text: string, pager: boolean): void {
  const less = pager && process.stdout.isTTY ? findTool("less") : null;
  if (less) spawnSync(less, ["-R"], { input: text, stdio: ["pipe", "inherit", "inherit"] });
  else process.stdout.write(text);
}

function showMan(base: string): Shown {
  const roff = join(DOCS, base);
  const man = findTool("man");
  if (!existsSync(roff) || !man) return "unavailable";
  spawnSync(man, ["--local-file", roff], { stdio: "inherit" });
  return "shown";
}

function showPandoc(markdown: string, pager: boolean): Shown {
  const pandoc = findTool("pandoc");
  const man = findTool("man");
  if (!pandoc || !existsSync(markdown)) return "unavailable";
  const roff = spawnSync(pandoc, ["-t", "man", "-s", markdown], { encoding: "utf8" });
  if (roff.status !== 0) return "unavailable";
  if (man && process.stdout.isTTY && pager)
    spawnSync(man, ["--local-file", "-"], { input: roff.stdout, stdio: ["pipe", "inherit", "inherit"] });
  else process.stdout.write(roff.stdout);
  return "shown";
}

function showMarkdown(markdown: string, pager: boolean): Shown {
  if (!existsSync(markdown)) return "unavailable";
  page(readFileSync(markdown, "utf8"), pager);
  return "shown";
}

function showSystem(base: string): Shown {
  const man = findTool("man");
  if (!man) return "unavailable";
  const [name, section] = [base.replace(/\.\d$/, ""), base.slice(-1)];
  const found = spawnSync(man, ["-w", section, name], { stdio: "ignore" });
  if (found.status !== 0) return "unavailable";
  spawnSync(man, [section, name], { stdio: "inherit" });
  return "shown";
}

export function documentation(manual: string | undefined, format: string, pager: boolean): number {
  const base = MANUALS[manual ?? "mkosi"];
  if (!base)
    throw new RuntimeError(`Unknown manual ${manual}: choose from ${Object.keys(MANUALS).join(", ")}`);
  const markdown = join(DOCS, `${base}.md`);
  const order = format === "auto" ? ["man", "pandoc", "markdown", "system"] : [format];
  for (const way of order) {
    const shown =
      way === "man"
        ? showMan(base)
        : way === "pandoc"
          ? showPandoc(markdown, pager)
          : way === "markdown"
            ? showMarkdown(markdown, pager)
            : showSystem(base);
    if (shown === "shown") return 0;
  }
  throw new RuntimeError(
    `No way to show the ${manual ?? "mkosi"} manual with --doc-format=${format}${
      existsSync(markdown)
        ? ""
        : ` (this package ships only ${Object.values(MANUALS)
            .filter((b) => existsSync(join(DOCS, `${b}.md`)))
            .join(", ")})`
    }`,
  );
}
