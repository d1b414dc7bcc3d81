import { describe, expect, test } from "vitest";
import {
  describeChange,
  describeChangeDetail,
  labelResolver,
  listDiff,
  reasonLine,
  valueDiff,
} from "../../cli/graph/reason.js";
import type { InputChange, NodeExplanation } from "../../engine/api.js";
import { extraChange, packagesChange, repositoriesChange } from "./fixtures.js";

function expl(partial: Partial<NodeExplanation>): NodeExplanation {
  return {
    id: "main/postinst",
    group: "main",
    label: "postinst",
    task: "postinst",
    status: "will-run",
    key: "ab".repeat(32),
    changes: [],
    firstRun: false,
    upstream: [],
    rootCauses: [],
    ...partial,
  };
}

describe("describeChange", () => {
  test("lists show added and removed items", () => {
    expect(describeChange(packagesChange)).toBe("Packages= changed: +vim");
    expect(
      describeChange({
        kind: "value",
        name: "Packages",
        change: "modified",
        old: ["a", "b", "c"],
        new: ["b", "d"],
      }),
    ).toBe("Packages= changed: +d, -a, -c");
  });

  test("long lists are cut with 'and N more'", () => {
    const change: InputChange = {
      kind: "value",
      name: "Packages",
      change: "modified",
      old: [],
      new: ["a", "b", "c", "d", "e"],
    };
    expect(describeChange(change)).toBe("Packages= changed: +a, +b, +c and 2 more");
  });

  test("reordered lists say so", () => {
    expect(valueDiff(["a", "b"], ["b", "a"])).toBe("order changed");
  });

  test("duplicates count as items (multiset)", () => {
    expect(listDiff(["a", "a"], ["a"])).toEqual({ added: [], removed: ["a"] });
  });

  test("scalars show old → new", () => {
    expect(
      describeChange({ kind: "value", name: "Release", change: "modified", old: "bookworm", new: "trixie" }),
    ).toBe("Release= changed: bookworm → trixie");
    expect(
      describeChange({ kind: "value", name: "Bootable", change: "modified", old: null, new: true }),
    ).toBe("Bootable= changed: null → true");
    expect(describeChange({ kind: "value", name: "Hostname", change: "modified", old: "", new: "box" })).toBe(
      'Hostname= changed: "" → box',
    );
  });

  test("objects show changed keys", () => {
    expect(
      describeChange({
        kind: "value",
        name: "Environment",
        change: "modified",
        old: { A: "1", B: "2" },
        new: { A: "3", C: "4" },
      }),
    ).toBe("Environment= changed: A: 1 → 3, -B, +C");
  });

  test("non-setting value labels get no '='", () => {
    expect(
      describeChange({ kind: "value", name: "distribution", change: "modified", old: "a", new: "b" }),
    ).toBe("distribution changed: a → b");
  });

  test("added and removed values", () => {
    expect(describeChange({ kind: "value", name: "Seed", change: "added", new: "x" })).toBe("Seed= added: x");
    expect(describeChange({ kind: "value", name: "Seed", change: "removed", old: "x" })).toBe(
      "Seed= removed (was x)",
    );
  });

  test("trees name the changed file", () => {
    expect(describeChange(extraChange)).toBe("mkosi.extra/etc/motd changed");
    expect(describeChange({ ...extraChange, files: { added: ["etc/new"], removed: [], modified: [] } })).toBe(
      "mkosi.extra/etc/new added",
    );
  });

  test("trees with many changes name the first few and count the rest", () => {
    const change: InputChange = {
      ...extraChange,
      files: { added: ["a", "b"], removed: ["c"], modified: ["d", "e"] },
    };
    expect(describeChange(change)).toBe("mkosi.extra changed: d, e, +a and 2 more");
  });

  test("paths without file lists, created and missing", () => {
    expect(
      describeChange({ kind: "path", name: "mkosi.postinst", change: "modified", old: "a", new: "b" }),
    ).toBe("mkosi.postinst changed");
    expect(describeChange({ kind: "path", name: "mkosi.skeleton", change: "added", new: "a" })).toBe(
      "mkosi.skeleton created",
    );
    expect(describeChange({ kind: "path", name: "mkosi.skeleton", change: "removed", old: "a" })).toBe(
      "mkosi.skeleton missing",
    );
  });

  test("task implementation, secrets, order, env and deps", () => {
    expect(
      describeChange({
        kind: "task",
        name: "implementation",
        task: "packages",
        change: "modified",
        old: "3a1f",
        new: "4b2e",
      }),
    ).toBe("implementation of packages changed");
    expect(describeChange({ kind: "secret", name: "RootPassword", change: "modified" })).toBe(
      "RootPassword= changed (secret)",
    );
    expect(
      describeChange({ kind: "order", name: "paths", change: "modified", old: ["a", "b"], new: ["b", "a"] }),
    ).toBe("order of paths changed: a, b → b, a");
    expect(
      describeChange({ kind: "env", name: "SOURCE_DATE_EPOCH", change: "modified", old: "1", new: "2" }),
    ).toBe("env SOURCE_DATE_EPOCH changed");
    expect(describeChange({ kind: "env", name: "env:FOO", change: "added", new: "1" })).toBe("env FOO set");
    expect(describeChange({ kind: "dep", name: "packages", change: "modified", old: "a", new: "b" })).toBe(
      "upstream packages output changed",
    );
    expect(describeChange({ kind: "dep", name: "dep:tools", change: "added", new: "b" })).toBe(
      "new dependency tools",
    );
  });
});

describe("reasonLine", () => {
  test("never built", () => {
    expect(reasonLine(expl({ firstRun: true }))).toBe("never built");
  });

  test("cached", () => {
    expect(reasonLine(expl({ status: "cached" }))).toBe("cached");
  });

  test("one change, several changes (own edits before upstream)", () => {
    expect(reasonLine(expl({ changes: [packagesChange] }))).toBe("Packages= changed: +vim");
    const dep: InputChange = { kind: "dep", name: "packages", change: "modified", old: "a", new: "b" };
    expect(reasonLine(expl({ changes: [dep, extraChange] }))).toBe("mkosi.extra/etc/motd changed (+1 more)");
  });

  test("upstream output changed, with the root cause further up", () => {
    const dep: InputChange = { kind: "dep", name: "packages", change: "modified", old: "a", new: "b" };
    expect(
      reasonLine(
        expl({
          changes: [dep],
          rootCauses: [{ chain: ["main/postinst", "main/packages"], changes: [packagesChange] }],
        }),
      ),
    ).toBe("upstream packages output changed");
    expect(
      reasonLine(
        expl({
          changes: [dep],
          rootCauses: [
            { chain: ["main/postinst", "main/packages", "main/metadata"], changes: [repositoriesChange] },
          ],
        }),
      ),
    ).toBe("upstream packages output changed ← metadata: Repositories= changed: +contrib");
  });

  test("pending deps name the upstream node and the root cause", () => {
    expect(
      reasonLine(
        expl({
          status: "pending-deps",
          key: undefined,
          upstream: ["main/packages"],
          rootCauses: [{ chain: ["main/postinst", "main/packages"], changes: [packagesChange] }],
        }),
      ),
    ).toBe("upstream packages will run: Packages= changed: +vim");
    expect(
      reasonLine(
        expl({
          status: "pending-deps",
          upstream: ["main/packages"],
          rootCauses: [
            { chain: ["main/postinst", "main/packages", "tools/metadata"], changes: [repositoriesChange] },
          ],
        }),
      ),
    ).toBe("upstream packages will run ← tools/metadata: Repositories= changed: +contrib");
  });

  test("missing input", () => {
    expect(
      reasonLine(
        expl({
          status: "missing-input",
          changes: [{ kind: "path", name: "mkosi.skeleton", change: "removed", old: "x" }],
        }),
      ),
    ).toBe("missing input: mkosi.skeleton");
  });

  test("no changes but not first run", () => {
    expect(
      reasonLine(
        expl({ lastRun: { key: "ab".repeat(32), digest: "x", durationMs: 1, bytes: 1, finishedAt: 0 } }),
      ),
    ).toBe("inputs unchanged, output not in cache");
  });

  test("labels across groups are qualified", () => {
    const labelOf = labelResolver([{ id: "tools/final", group: "tools", label: "final" }], "main");
    expect(labelOf("tools/final")).toBe("tools/final");
    expect(labelOf("main/packages")).toBe("packages");
  });
});

test("describeChangeDetail gives old and new values and per-file changes", () => {
  expect(describeChangeDetail(packagesChange)).toEqual([
    "Packages= (setting, modified)",
    '  old: ["systemd","nano"]',
    '  new: ["systemd","nano","vim"]',
    "  added: vim",
  ]);
  const tree = describeChangeDetail({
    ...extraChange,
    files: { added: ["x"], removed: ["y"], modified: ["etc/motd"] },
  });
  expect(tree[0]).toBe("mkosi.extra (tree, modified)");
  expect(tree).toContain(`  old: ${extraChange.old}`);
  expect(tree).toContain(`  new: ${extraChange.new}`);
  expect(tree).toContain("  modified: etc/motd");
  expect(tree).toContain("  added: x");
  expect(tree).toContain("  removed: y");
});

describe("reasonLine with engine-shaped explanations", () => {
  const pendingDep: InputChange = { kind: "dep", name: "packages", change: "added" };

  test("a pending node whose own inputs changed says so first", () => {
    expect(
      reasonLine(
        expl({
          status: "pending-deps",
          changes: [extraChange, pendingDep],
          upstream: ["main/packages"],
          rootCauses: [
            { chain: ["main/postinst"], changes: [extraChange] },
            { chain: ["main/postinst", "main/packages"], changes: [packagesChange] },
          ],
        }),
      ),
    ).toBe("mkosi.extra/etc/motd changed; upstream packages will run");
  });

  test("own-change root causes are skipped when naming the upstream cause", () => {
    expect(
      reasonLine(
        expl({
          status: "pending-deps",
          upstream: ["main/packages"],
          rootCauses: [
            { chain: ["main/postinst"], changes: [] },
            { chain: ["main/postinst", "main/packages", "main/metadata"], changes: [repositoriesChange] },
            { chain: ["main/postinst", "main/extras"], changes: [extraChange] },
          ],
        }),
      ),
    ).toBe("upstream packages will run ← metadata: Repositories= changed: +contrib (+1 more cause)");
  });

  test("an upstream node that never ran", () => {
    expect(
      reasonLine(
        expl({
          status: "pending-deps",
          upstream: ["main/packages"],
          rootCauses: [{ chain: ["main/postinst", "main/packages"], changes: [] }],
        }),
      ),
    ).toBe("upstream packages will run: never built");
    expect(reasonLine(expl({ status: "pending-deps", firstRun: true, upstream: ["main/packages"] }))).toBe(
      "never built; upstream packages will run",
    );
  });

  test("run reasons and problems the engine adds are used when present", () => {
    const withExtra = (e: NodeExplanation, extra: Record<string, string>) =>
      ({ ...e, ...extra }) as NodeExplanation;
    expect(reasonLine(withExtra(expl({}), { reason: "always" }))).toBe("always runs (not cached by design)");
    expect(reasonLine(withExtra(expl({}), { reason: "forced" }))).toBe("forced to run");
    expect(reasonLine(withExtra(expl({}), { reason: "not-in-cache" }))).toBe(
      "inputs unchanged, output not in cache",
    );
    expect(
      reasonLine(
        withExtra(expl({ status: "missing-input" }), {
          problem: "dependency main/skeleton has a missing input",
        }),
      ),
    ).toBe("missing input: dependency main/skeleton has a missing input");
  });

  test("a renamed task", () => {
    expect(
      describeChange({ kind: "task", name: "name", change: "modified", old: "pkgs", new: "packages" }),
    ).toBe("task changed: pkgs → packages");
  });
});

test("several changed upstream outputs read as one phrase", () => {
  const dep = (name: string): InputChange => ({ kind: "dep", name, change: "modified", old: "a", new: "b" });
  expect(reasonLine(expl({ changes: [dep("extras"), dep("packages")] }))).toBe(
    "upstream extras, packages outputs changed",
  );
});
