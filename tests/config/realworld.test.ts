// systemd's own mkosi tree (a real tree nobody here wrote) loads as the reference loads it: the same
// `--json summary` and the same `cat-config` for each distribution its CI builds, from a fresh copy
// of the tree with nothing changed. Expected outputs: tools/oracle/regen-realworld.mjs.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
// Plain-JS helpers shared with the oracle tools.
import { diffImage, REPO_ROOT, run } from "../helpers/config-fixtures.mjs";
import {
  cleanupTree,
  expectedPath,
  normalizeRun,
  prepareTree,
  runs,
  SYSTEMD_TREE,
  treeEnv,
} from "../helpers/realworld.mjs";

const BIN = join(REPO_ROOT, "bin", "mkosi");
type Image = Record<string, unknown>;

describe.concurrent(`systemd's mkosi tree (${SYSTEMD_TREE}) vs. the reference`, () => {
  for (const r of runs()) {
    it(`mkosi ${r.args.join(" ")}`, async () => {
      expect(existsSync(join(SYSTEMD_TREE, "mkosi", "mkosi.conf")), `no tree at ${SYSTEMD_TREE}`).toBe(true);
      const expected = readFileSync(expectedPath(r), "utf8");
      const prep = prepareTree();
      try {
        const res = await run(process.execPath, ["--", BIN, ...r.args], {
          cwd: prep.cwd,
          env: treeEnv(prep),
        });
        expect(res.code, res.stderr).toBe(0);
        // The one warning: MinimumVersion=commit: cannot be verified here (README).
        expect(res.stderr.trim().split("\n")).toEqual([
          expect.stringContaining(
            "Cannot verify MinimumVersion=commit:5e739ef1ed02a4f3b6ae64e50a8ee186cbcb21c2",
          ),
        ]);
        const actual = normalizeRun(r, res.stdout, prep, join(REPO_ROOT, "config", "resources"));
        if (r.kind === "summary") {
          const exp = JSON.parse(expected) as { Images: Image[]; Tools: Image | null };
          const act = JSON.parse(actual) as { Images: Image[]; Tools: Image | null };
          expect(act.Images.map((i) => i.Image)).toEqual(exp.Images.map((i) => i.Image));
          const diffs = exp.Images.flatMap((img, i) => diffImage(`Images[${img.Image}]`, img, act.Images[i]));
          if (exp.Tools) diffs.push(...diffImage("Tools", exp.Tools, act.Tools));
          else if (act.Tools) diffs.push("Tools: expected null");
          expect(diffs).toEqual([]);
        }
        expect(actual).toBe(expected);
      } finally {
        cleanupTree(prep);
      }
    });
  }
});
