// The cases of fixtures/distros: each case's settings as an mkosi.conf, shared by the recorder
// (tools/oracle/distros/record.mjs, which runs the reference) and tests/distros/oracle.test.ts.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const FIXTURES = resolve(import.meta.dirname, "../../fixtures/distros");

const SECTION = {
  Distribution: "Distribution",
  Release: "Distribution",
  Architecture: "Distribution",
  Mirror: "Distribution",
  LocalMirror: "Distribution",
  RepositoryKeyCheck: "Distribution",
  RepositoryKeyFetch: "Distribution",
  Repositories: "Distribution",
  CacheOnly: "Build",
  ProxyUrl: "Build",
  Environment: "Build",
  WithDocs: "Build",
  WithRecommends: "Content",
  Locale: "Content",
  Packages: "Content",
  Bootable: "Content",
};

/** mkosi.conf text for a case's settings (lists as repeated assignments, booleans as yes/no). */
export function renderConf(settings) {
  const sections = new Map();
  for (const [key, value] of Object.entries(settings)) {
    const section = SECTION[key];
    if (!section) throw new Error(`distro oracle: no section known for ${key}`);
    const lines = sections.get(section) ?? [];
    for (const v of Array.isArray(value) ? value : [value])
      lines.push(`${key}=${typeof v === "boolean" ? (v ? "yes" : "no") : v}`);
    sections.set(section, lines);
  }
  return [...sections].map(([s, lines]) => `[${s}]\n${lines.join("\n")}\n`).join("\n");
}

/** Every case: { name, description, settings, sandbox, expected? }. */
export function listCases() {
  return readdirSync(FIXTURES)
    .sort()
    .filter((name) => existsSync(join(FIXTURES, name, "case.json")))
    .map((name) => {
      const spec = JSON.parse(readFileSync(join(FIXTURES, name, "case.json"), "utf8"));
      const expectedFile = join(FIXTURES, name, "expected.json");
      const expected = existsSync(expectedFile) ? JSON.parse(readFileSync(expectedFile, "utf8")) : undefined;
      return { name, ...spec, sandbox: spec.sandbox ?? {}, expected };
    });
}
