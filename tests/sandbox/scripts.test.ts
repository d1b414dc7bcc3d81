import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  expandScripts,
  runScripts,
  SCRIPT_ENVIRONMENT_TABLE,
  SCRIPT_KINDS,
  type ScriptConfig,
  type ScriptKind,
  type ScriptRunOptions,
  scriptEnvironment,
} from "../../sandbox/scripts.js";

const config: ScriptConfig = {
  Distribution: "debian",
  Release: "bookworm",
  Architecture: "x86-64",
  ImageId: "my-image",
  ImageVersion: "1.2.3",
  Profiles: ["a", "b"],
  Environment: { FOO: "bar", SOURCE_DATE_EPOCH: "99" },
  WithNetwork: false,
  WithDocs: true,
  WithTests: false,
  SourceDateEpoch: 12345,
  BuildSources: [],
};

describe("script environment table", () => {
  it("gives each kind exactly the variables of the man page table", () => {
    for (const kind of SCRIPT_KINDS) {
      const env = scriptEnvironment({
        kind,
        scripts: [],
        config: { ...config, Environment: {} },
        workDir: "/nonexistent",
        buildDir: "/b",
      });
      const expected = Object.entries(SCRIPT_ENVIRONMENT_TABLE)
        .filter(([, kinds]) => kinds.includes(kind))
        .map(([k]) => k)
        .sort();
      expect(Object.keys(env).sort(), kind).toEqual(expected);
    }
  });

  it("matches the man page's table for a few spot checks", () => {
    const has = (v: string, k: ScriptKind) => SCRIPT_ENVIRONMENT_TABLE[v]!.includes(k);
    expect(has("QEMU_ARCHITECTURE", "configure")).toBe(true);
    expect(has("QEMU_ARCHITECTURE", "build")).toBe(false);
    expect(has("MKOSI_CONFIG", "configure")).toBe(false);
    expect(has("PROFILES", "postoutput")).toBe(false);
    expect(has("OUTPUTDIR", "clean")).toBe(true);
    expect(has("CHROOT_OUTPUTDIR", "postoutput")).toBe(false);
    expect(has("SOURCE_DATE_EPOCH", "clean")).toBe(true);
    expect(has("WITH_DOCS", "postinst")).toBe(false);
    expect(has("BUILDDIR", "prepare")).toBe(false);
  });

  it("leaves out variables without a value, and Environment= wins", () => {
    const env = scriptEnvironment({
      kind: "build",
      scripts: [],
      config: { ...config, ImageId: null, Profiles: [], SourceDateEpoch: null },
      workDir: "/x",
    });
    expect(env.IMAGE_ID).toBeUndefined();
    expect(env.PROFILES).toBeUndefined();
    expect(env.BUILDDIR).toBeUndefined();
    expect(env.CHROOT_BUILDDIR).toBeUndefined();
    expect(env.SOURCE_DATE_EPOCH).toBe("99");
    expect(env.FOO).toBe("bar");
    expect(env.DISTRIBUTION_ARCHITECTURE).toBe("x86-64");
  });
});

describe.skipIf(process.getuid?.() !== 0)("running scripts", () => {
  let base: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "mkosi-scripts-test-"));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  async function script(name: string, text: string): Promise<string> {
    const p = join(base, "scripts", name);
    await mkdir(join(p, ".."), { recursive: true });
    await writeFile(p, text);
    await chmod(p, 0o755);
    return p;
  }

  async function dirs() {
    const mk = async (n: string) => {
      const p = join(base, `${n}-${Math.random().toString(36).slice(2)}`);
      await mkdir(p, { recursive: true });
      return p;
    };
    return {
      root: await mk("root"),
      outputDir: await mk("out"),
      destDir: await mk("dest"),
      buildDir: await mk("build"),
      packageDir: await mk("packages"),
      artifactDir: await mk("artifacts"),
      workingDirectory: await mk("src"),
      workDir: await mk("work"),
    };
  }

  it("runs every kind with exactly its environment and argument", async () => {
    const dump = await script(
      "dump-env",
      `#!/usr/bin/perl\nprint "ARGS=@ARGV\\n"; print "$_=$ENV{$_}\\n" for sort keys %ENV;\n`,
    );
    for (const kind of SCRIPT_KINDS) {
      const lines: string[] = [];
      const o: ScriptRunOptions = {
        kind,
        scripts: [dump],
        config,
        configJson: '{"Image":"main"}',
        distributionArchitecture: "amd64",
        cached: true,
        ...(await dirs()),
        onOutput: (l) => lines.push(l),
        input: "{}",
      };
      const r = await runScripts(o);
      const out = kind === "configure" ? r.stdout!.split("\n").filter(Boolean) : lines;
      const env = Object.fromEntries(
        out
          .filter((l) => !l.startsWith("ARGS="))
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
      const expected = [
        ...Object.entries(SCRIPT_ENVIRONMENT_TABLE)
          .filter(([, kinds]) => kinds.includes(kind))
          .map(([k]) => k),
        "PATH",
        "PWD",
        "FOO",
        ...(process.env.TERM ? ["TERM"] : []),
      ];
      if (SCRIPT_ENVIRONMENT_TABLE.SOURCE_DATE_EPOCH!.includes(kind) === false)
        expected.push("SOURCE_DATE_EPOCH");
      expect(Object.keys(env).sort(), kind).toEqual([...new Set(expected)].sort());
      expect(env.DISTRIBUTION_ARCHITECTURE).toBe("amd64");
      expect(env.SRCDIR).toBe("/work/src");
      if (env.MKOSI_CONFIG) expect(env.MKOSI_CONFIG).toBe("/work/config.json");
      const args = out.find((l) => l.startsWith("ARGS="));
      const expectedArgs = kind === "sync" || kind === "prepare" || kind === "postinst" ? "final" : "";
      expect(args, kind).toBe(`ARGS=${expectedArgs}`);
    }
  });

  it("gives scripts the /work directories, the config file and the network policy", async () => {
    const d = await dirs();
    await writeFile(join(d.workingDirectory, "in-src"), "src\n");
    const s = await script(
      "build-check",
      `#!/bin/sh
set -e
cat in-src > "$DESTDIR/copied"
cat "$MKOSI_CONFIG" > "$DESTDIR/config"
touch "$BUILDROOT/written-by-build" "$BUILDDIR/b" "$PACKAGEDIR/p" "$ARTIFACTDIR/a"
tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ' > "$DESTDIR/net"
echo "$@" > "$DESTDIR/args"
`,
    );
    await runScripts({ kind: "build", scripts: [s], config, configJson: '{"X":1}', args: ["--foo"], ...d });
    expect(await readFile(join(d.destDir, "copied"), "utf8")).toBe("src\n");
    expect(await readFile(join(d.destDir, "config"), "utf8")).toBe('{"X":1}');
    expect((await readFile(join(d.destDir, "net"), "utf8")).trim()).toBe("lo");
    expect((await readFile(join(d.destDir, "args"), "utf8")).trim()).toBe("--foo");
    await readFile(join(d.root, "written-by-build"));
    await readFile(join(d.buildDir, "b"));
    // postinst: BUILDDIR is read-only.
    const ro = await script("ro-builddir", `#!/bin/sh\ntouch "$BUILDDIR/x"\n`);
    await expect(runScripts({ kind: "postinst", scripts: [ro], config, ...d })).rejects.toThrow(
      /postinst script ro-builddir failed/,
    );
    // prepare has the network even when WithNetwork=no.
    const net = await script("net", `#!/bin/sh\ntail -n +3 /proc/net/dev | wc -l\n`);
    const lines: string[] = [];
    await runScripts({ kind: "prepare", scripts: [net], config, ...d, onOutput: (l) => lines.push(l) });
    expect(Number(lines[0])).toBeGreaterThan(1);
  });

  it("mkosi-as-caller drops to MKOSI_UID/MKOSI_GID", async () => {
    const d = await dirs();
    const s = await script("as-caller", "#!/bin/sh\nmkosi-as-caller sh -c 'echo $(id -u):$(id -g)'\n");
    const lines: string[] = [];
    await runScripts({
      kind: "postoutput",
      scripts: [s],
      config,
      uid: 65534,
      gid: 65534,
      ...d,
      onOutput: (l) => lines.push(l),
    });
    expect(lines).toEqual(["65534:65534"]);
  });

  it("runs .d directories in order and chains configure scripts through stdin/stdout", async () => {
    const dir = join(base, "scripts", "mkosi.configure.d");
    await script("mkosi.configure.d/20-second", `#!/bin/sh\nsed 's/one/two/'\n`);
    await script("mkosi.configure.d/10-first", `#!/bin/sh\nsed 's/zero/one/'\n`);
    expect((await expandScripts([dir])).map((s) => s.path.split("/").pop())).toEqual([
      "10-first",
      "20-second",
    ]);
    const d = await dirs();
    const r = await runScripts({ kind: "configure", scripts: [dir], config, input: '{"v":"zero"}', ...d });
    expect(r.stdout).toBe('{"v":"two"}');
    expect(r.ran).toHaveLength(2);
  });
});

describe.skipIf(process.getuid?.() !== 0)("ephemeral build sources", () => {
  it("drops changes to the sources after the scripts ran (BuildSourcesEphemeral=yes)", async () => {
    const base = await mkdtemp(join(tmpdir(), "mkosi-eph-test-"));
    try {
      const src = join(base, "src");
      await mkdir(src);
      await writeFile(join(src, "keep"), "original\n");
      const s = join(base, "mkosi.sync");
      await writeFile(s, "#!/bin/sh\nset -e\necho changed > keep\ntouch new\ncat keep\n");
      await chmod(s, 0o755);
      const lines: string[] = [];
      await runScripts({
        kind: "sync",
        scripts: [s],
        config: { ...config, BuildSources: [{ Source: src, Target: null }] },
        workDir: join(base, "work"),
        ephemeralSources: true,
        onOutput: (l) => lines.push(l),
      });
      expect(lines).toEqual(["changed"]);
      expect(await readFile(join(src, "keep"), "utf8")).toBe("original\n");
      const { existsSync } = await import("node:fs");
      expect(existsSync(join(src, "new"))).toBe(false);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
