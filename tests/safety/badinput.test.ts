// Item 7 of the safety issue: bad input gets an early, clear error that names the setting, the file and
// the line; nothing is built first, no stack trace, and nothing the input contains reaches the terminal
// raw (control bytes are escaped).
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { customTree, makeTree, missingPrerequisite, mkosi, type Tree } from "./helpers.js";

const skip = missingPrerequisite();

/** Control characters other than newline and tab. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;

describe.skipIf(skip !== undefined)(`bad input${skip ? ` (skipped: ${skip})` : ""}`, () => {
  const trees: Tree[] = [];
  const tree = async (conf: string | Buffer): Promise<Tree> => {
    const t = await makeTree(customTree());
    trees.push(t);
    writeFileSync(join(t.dir, "mkosi.conf"), conf);
    return t;
  };
  const conf = (...lines: string[]) =>
    ["[Distribution]", "Distribution=custom", "[Output]", "Format=directory", ...lines, ""].join("\n");

  afterAll(async () => {
    for (const t of trees) await t.remove();
  });

  /** A build that must fail before any node starts, with a short message that names `what`. */
  async function refused(t: Tree, ...what: string[]): Promise<string> {
    const run = await mkosi(t, ["--json", "build"]);
    expect(run.code).not.toBe(0);
    expect(run.stdout).not.toContain('"type":"started"');
    for (const w of what) expect(run.stderr).toContain(w);
    expect(run.stderr).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/); // no stack trace
    expect(run.stderr).not.toMatch(CONTROL);
    expect(run.stderr.length).toBeLessThan(2000);
    return run.stderr;
  }

  it("a config file that is not valid UTF-8: at parse time, naming file and line", async () => {
    const t = await tree(
      Buffer.concat([
        Buffer.from(conf("[Content]", "Hostname=ab")),
        Buffer.from([0xff, 0xfe]),
        Buffer.from("cd\n"),
      ]),
    );
    const err = await refused(t, `${join(t.dir, "mkosi.conf")}:7`, "UTF-8");
    const summary = await mkosi(t, ["summary"]);
    expect(summary.code).not.toBe(0);
    expect(summary.stderr).toBe(err);
  });

  it("a 1 MB Hostname=: before any work, naming setting, file and line", async () => {
    const t = await tree(conf("[Content]", `Hostname=${"a".repeat(1 << 20)}`));
    await refused(t, `${join(t.dir, "mkosi.conf")}:6`, "Hostname=");
  });

  it("a Hostname= that is not a host name", async () => {
    const t = await tree(conf("[Content]", "Hostname=bad host/name"));
    await refused(t, `${join(t.dir, "mkosi.conf")}:6`, "Hostname=");
  });

  it("ImageId=../../evil: names ImageId=, file and line, and creates nothing outside", async () => {
    const t = await tree(conf("ImageId=../../evil"));
    await refused(t, `${join(t.dir, "mkosi.conf")}:5`, "ImageId=");
    expect(existsSync(join(t.dir, "../../evil"))).toBe(false);
  });

  it("a missing ExtraTrees= source: before any work, naming setting, file, line and path", async () => {
    const t = await tree(conf("[Content]", "ExtraTrees=/nonexistent/mkosi-safety-tree"));
    await refused(t, `${join(t.dir, "mkosi.conf")}:6`, "ExtraTrees=", "/nonexistent/mkosi-safety-tree");
  });

  it("control bytes in a config file are escaped in errors", async () => {
    const t = await tree(conf("[Content]", "Host\x1b]0;pwned\x07name=x"));
    const err = await refused(t, `${join(t.dir, "mkosi.conf")}:6`);
    expect(err).toContain("\\x1b");
  });

  it("control bytes in a value are escaped in summary", async () => {
    const t = await tree(conf("[Content]", "Hostname=a\x1b[31mred"));
    const run = await mkosi(t, ["summary"]);
    expect(run.stdout + run.stderr).not.toMatch(CONTROL);
  });
});
