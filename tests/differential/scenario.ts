// Focused regression tests of mismatches the differential test found: a small configuration tree (the
// same edits as the random runs), built incrementally and clean, with the outputs compared.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Op } from "./ops.js";
import { type BuildOutcome, Workspace } from "./runner.js";

export interface Scenario {
  ws: Workspace;
  /** Apply edits to the tree. */
  edit(...ops: Op[]): void;
  incremental(): Promise<BuildOutcome>;
  clean(): Promise<BuildOutcome>;
  /** Paths where the incremental output differs from the clean one (both must have been built). */
  differences(): Promise<string[]>;
  remove(): void;
}

/** A Distribution=custom tree with these settings (after Distribution=custom) and files. */
export function scenario(settings: [string, string][], initial: Op[]): Scenario {
  const work = mkdtempSync(join(tmpdir(), "mkosi-differential-regression-"));
  const ws = new Workspace(work, {
    name: "regression",
    testFile: "",
    settings: [["Distribution", "custom"], ...settings],
    initial,
    kinds: [],
    mtimes: true,
  });
  return {
    ws,
    edit: (...ops) => {
      for (const op of ops) ws.apply(op);
    },
    incremental: () => ws.buildIncremental(),
    clean: () => ws.buildClean(),
    differences: async () =>
      (await ws.compare()).differences.map((d) => `${d.path}: ${d.a ?? "absent"} ≠ ${d.b ?? "absent"}`),
    remove: () => rmSync(work, { recursive: true, force: true }),
  };
}
