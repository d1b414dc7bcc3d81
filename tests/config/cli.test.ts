import { describe, expect, it } from "vitest";
import { parseArgs, UsageError } from "../../cli/args.js";

describe("command line", () => {
  it("parses verbs, counted -f and passthrough", () => {
    const { args } = parseArgs(["-ff", "--debug", "build", "--", "make", "-j4"], "/tmp");
    expect(args.verb).toBe("build");
    expect(args.force).toBe(2);
    expect(args.debug).toBe(true);
    expect(args.cmdline).toEqual(["make", "-j4"]);
  });
  it("defaults to build", () => {
    expect(parseArgs([], "/tmp").args.verb).toBe("build");
  });
  it("collects setting options in order, with short forms", () => {
    const { args } = parseArgs(["-d", "fedora", "-p", "a", "--package=b", "-a", "-T", "summary"], "/tmp");
    expect(args.assignments.map((a) => [a.setting.name, a.value])).toEqual([
      ["Distribution", "fedora"],
      ["Packages", "a"],
      ["Packages", "b"],
      ["Autologin", "yes"],
      ["WithTests", "no"],
    ]);
  });
  it("rejects unknown options, abbreviations and verbs", () => {
    expect(() => parseArgs(["--no-such-option=x"], "/tmp")).toThrow(UsageError);
    expect(() => parseArgs(["--distrib=fedora"], "/tmp")).toThrow(UsageError);
    expect(() => parseArgs(["frobnicate"], "/tmp")).toThrow(/invalid choice/);
    expect(() => parseArgs(["summary", "extra"], "/tmp")).toThrow(/not supported/);
  });
  it("--directory= disables config", () => {
    expect(parseArgs(["--directory=", "summary"], "/tmp").args.directory).toBeNull();
    expect(() => parseArgs(["-C", "/nonexistent-dir", "summary"], "/tmp")).toThrow(/is not a directory/);
  });
  it("--json and --version", () => {
    const r = parseArgs(["--json", "--version"], "/tmp");
    expect(r.args.json).toBe(true);
    expect(r.version).toBe(true);
  });
});
