// Item 3 of the safety issue, in the engine: file names that are not valid UTF-8 (Linux allows any bytes
// but "/" and NUL) are fingerprinted by their bytes. Two names that differ only in invalid bytes must
// give different fingerprints, on every path of the fingerprinter (small trees walked in JS, large ones
// scanned with find, the stat cache), including their content, link targets and xattrs; explanations
// show them with the invalid bytes escaped.
import { execFileSync } from "node:child_process";
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import xxhash from "xxhash-wasm";
import { diffTrees, Fingerprinter } from "../../engine/fingerprint.js";
import { Store } from "../../engine/store.js";
import { cleanup, tempDir } from "../engine/helpers.js";

/** `dir` + "/" + `rel`, where `rel` may hold raw bytes (given as a Buffer or a latin1 string). */
function at(dir: string, rel: string): Buffer {
  return Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(rel, "latin1")]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("fingerprints of names that are not valid UTF-8", () => {
  let dir: string;
  let store: Store;
  let fp: Fingerprinter;

  beforeAll(async () => {
    dir = await tempDir();
    store = new Store(join(dir, "index"));
    fp = new Fingerprinter(store, await xxhash(), 0);
  });
  afterAll(async () => {
    await store.close();
    await cleanup(dir);
  });

  async function f(path: string): Promise<string> {
    fp.reset();
    const sig = await fp.path(path);
    await fp.flush();
    await sleep(15);
    return sig.fp;
  }

  for (const [kind, filler] of [
    ["small tree (walked in JS)", 0],
    ["large tree (scanned with find)", 300],
  ] as const) {
    it(`a rename, a content change, a link target and an xattr are seen: ${kind}`, async () => {
      const tree = join(dir, `t${filler}`);
      mkdirSync(join(tree, "etc"), { recursive: true });
      for (let i = 0; i < filler; i++) writeFileSync(join(tree, `filler-${i}`), `${i}\n`);
      writeFileSync(at(tree, "etc/q\xfa"), "content\n");
      const seen = new Set<string>();
      const step = async (what: string) => {
        const v = await f(tree);
        expect(seen.has(v), what).toBe(false);
        seen.add(v);
        return v;
      };
      const first = await step("first");
      renameSync(at(tree, "etc/q\xfa"), at(tree, "etc/q\xfb"));
      const renamed = await step("rename q\\xfa to q\\xfb");
      writeFileSync(at(tree, "etc/q\xfb"), "other\n");
      await step("content of q\\xfb");
      mkdirSync(at(tree, "d\xff"));
      writeFileSync(at(tree, "d\xff/inside"), "x\n");
      await step("a directory d\\xff");
      writeFileSync(at(tree, "d\xff/inside"), "y\n");
      await step("a file below d\\xff");
      symlinkSync(at(tree, "target\xfa").subarray(tree.length + 1), at(tree, "link"));
      await step("a link to target\\xfa");
      renameSync(at(tree, "link"), at(tree, "link2"));
      symlinkSync(at(tree, "target\xfb").subarray(tree.length + 1), at(tree, "link"));
      await step("a link to target\\xfb");
      // setfattr gets the name through the shell: Node cannot pass bytes in argv.
      execFileSync("sh", ["-c", 'setfattr -n user.test -v 1 "$(printf "%b" "etc/q\\0373")"'], { cwd: tree });
      await step("an xattr on q\\xfb");
      // Unchanged: the same fingerprint again (from the stat cache this time).
      const again = await f(tree);
      expect(again).toBe([...seen].at(-1));

      const diff = diffTrees(store, first, renamed)!;
      expect(diff).toEqual({ added: ["etc/q\\xfb"], removed: ["etc/q\\xfa"], modified: [] });
    });
  }

  it("entries right below a declared path (whose own name is UTF-8)", async () => {
    const tree = join(dir, "root-\u00e9");
    mkdirSync(tree);
    writeFileSync(at(tree, "a\xfa"), "1\n");
    const one = await f(tree);
    renameSync(at(tree, "a\xfa"), at(tree, "a\xfb"));
    expect(await f(tree)).not.toBe(one);
  });
});
