import { describe, expect, it } from "vitest";
import { dumpJson, summaryJson } from "../../config/json.js";
import { conf, load, main, tree } from "./helpers.js";

describe("defaults", () => {
  it("has all 168 fields with upstream defaults", () => {
    const c = conf("");
    expect(Object.keys(c)).toHaveLength(168);
    expect(c.Distribution).toBe("debian");
    expect(c.Release).toBe("bookworm");
    expect(c.Format).toBe("disk");
    expect(c.Output).toBe("image");
    expect(c.OutputExtension).toBe("raw");
    expect(c.CompressOutput).toBe("none");
    expect(c.SplitArtifacts).toEqual(["uki", "kernel", "initrd"]);
    expect(c.CacheKey).toBe("&d~&r~&a~&I");
    expect(c.RAM).toBe(2147483648);
    expect(c.VSockCID).toBe(-1);
    expect(c.SecureBootKeySource).toEqual({ Source: "", Type: "file" });
    expect(c.Image).toBe("main");
  });
  it("derives defaults from other settings", () => {
    expect(conf("[Distribution]\nDistribution=fedora\n").Release).toBe("rawhide");
    expect(conf("[Output]\nFormat=tar\n").CompressOutput).toBe("zstd");
    expect(conf("[Output]\nFormat=oci\n").CompressOutput).toBe("gz");
    expect(conf("[Output]\nImageId=x\nImageVersion=1.2\n").Output).toBe("x_1.2");
    expect(conf("[Validation]\nSign=yes\n").Checksum).toBe(true);
  });
  it("memoizes defaults used by [Match] (G2)", () => {
    const c = main({
      "mkosi.conf.d/10-a.conf": "[Match]\nRelease=bookworm\n[Content]\nPackages=x\n",
      "mkosi.conf.d/20-b.conf": "[Distribution]\nDistribution=fedora\n",
    });
    expect(c.Distribution).toBe("fedora");
    expect(c.Release).toBe("bookworm");
  });
});

describe("assignments", () => {
  it("collections append across files, empty resets", () => {
    const c = main({
      "mkosi.conf": "[Content]\nPackages=b,a\n",
      "mkosi.conf.d/1.conf": "[Content]\nRemoveFiles=/x\nRemoveFiles=\nRemoveFiles=/y\n",
      "mkosi.conf.d/2.conf": "[Content]\nPackages=c\n",
    });
    expect(c.Packages).toEqual(["a", "b", "c"]);
    expect(c.RemoveFiles).toEqual(["/y"]);
  });
  it("scalars: last wins, empty resets to the default", () => {
    expect(conf("[Output]\nImageId=a\nImageId=b\n").ImageId).toBe("b");
    expect(conf("[Content]\nWithDocs=no\nWithDocs=\n").WithDocs).toBe(true);
  });
  it("CLI beats config; CLI collections come after config ones", () => {
    const c = conf("[Output]\nImageId=conf\n[Content]\nPackages=z\n", [
      "--image-id=cli",
      "-p",
      "b",
      "--package",
      "a",
    ]);
    expect(c.ImageId).toBe("cli");
    expect(c.Packages).toEqual(["z", "a", "b"]);
  });
  it("CLI resets drop config values", () => {
    expect(conf("[Content]\nPackages=z\n", ["--package", "foo", "--package", ""]).Packages).toEqual([]);
    expect(conf("[Content]\nPackages=z\n", ["--package", "", "--package", "foo"]).Packages).toEqual(["foo"]);
  });
  it("does not expand specifiers on the CLI", () => {
    expect(conf("", ["--image-id=%d"]).ImageId).toBe("%d");
  });
  it("relative paths resolve against the config directory", () => {
    const d = tree({ "mkosi.conf": "[Content]\nExtraTrees=tree:/usr\n", "tree/": null });
    const r = load(d);
    expect(r.images[0]?.ExtraTrees).toEqual([{ Source: `${d}/tree`, Target: "/usr" }]);
  });
  it("aliased dests share a JSON key (G1)", () => {
    const c = conf("[Content]\nKernelModulesInclude=foo,default\nKernelModules=bar\n");
    expect(c.KernelModules).toEqual(["re:foo", "default", "bar"]);
    expect("KernelModulesInclude" in c).toBe(false);
  });
  it("old names still work", () => {
    expect(conf("[Runtime]\nQemuMem=1G\n").RAM).toBe(1024 ** 3);
  });
});

describe("match", () => {
  const withDropin = (match: string, argv: string[] = []) =>
    main(
      {
        "mkosi.conf": "[Output]\nImageVersion=123\n",
        "mkosi.conf.d/a.conf": `${match}\n[Content]\nPackages=hit\n`,
      },
      argv,
    ).Packages as string[];
  it("plain, negated and triggering conditions", () => {
    expect(withDropin("[Match]\nDistribution=debian")).toEqual(["hit"]);
    expect(withDropin("[Match]\nDistribution=!debian")).toEqual([]);
    expect(withDropin("[Match]\nDistribution=|fedora\nDistribution=|debian")).toEqual(["hit"]);
    expect(withDropin("[Match]\nDistribution=|fedora\nDistribution=|arch")).toEqual([]);
  });
  it("multiple [Match] sections must all hold", () => {
    expect(withDropin("[Match]\nFormat=disk\n[Match]\nDistribution=fedora")).toEqual([]);
    expect(withDropin("[Match]\nFormat=disk\n[Match]\nDistribution=debian")).toEqual(["hit"]);
  });
  it("[TriggerMatch] sections are ORed; an empty one matches", () => {
    expect(withDropin("[TriggerMatch]\nDistribution=fedora\n[TriggerMatch]\nFormat=disk")).toEqual(["hit"]);
    expect(withDropin("[TriggerMatch]\nDistribution=fedora\n[TriggerMatch]\nFormat=tar")).toEqual([]);
    expect(withDropin("[TriggerMatch]")).toEqual(["hit"]);
  });
  it("image versions compare", () => {
    expect(withDropin("[Match]\nImageVersion=>=123")).toEqual(["hit"]);
    expect(withDropin("[Match]\nImageVersion=<123")).toEqual([]);
  });
  it("CLI values are seen", () => {
    expect(withDropin("[Match]\nFormat=tar", ["--format", "tar"])).toEqual(["hit"]);
  });
  it("special keys", () => {
    expect(withDropin("[Match]\nPathExists=mkosi.conf")).toEqual(["hit"]);
    expect(withDropin("[Match]\nPathExists=nope")).toEqual([]);
    expect(withDropin("[Match]\nImage=main")).toEqual(["hit"]);
  });
  it("unset values never match", () => {
    expect(withDropin("[Match]\nImageId=*")).toEqual([]);
  });
  it("a failing mkosi.conf match skips the whole directory", () => {
    const c = main({
      "mkosi.conf": "[Match]\nDistribution=fedora\n[Output]\nImageId=x\n",
      "mkosi.conf.d/a.conf": "[Content]\nPackages=p\n",
    });
    expect(c.ImageId).toBeNull();
    expect(c.Packages).toEqual([]);
  });
  it("errors on bad match keys", () => {
    expect(() => withDropin("[Match]\nPackages=x")).toThrow(/cannot be used in \[Match\]/);
    expect(() => withDropin("[Match]\nFoo=x")).toThrow(/Foo cannot be used/);
    expect(() => withDropin("[Match]\nDistribution=gentoo")).toThrow(/'gentoo' is not a valid Distribution/);
  });
});

describe("specifiers", () => {
  it("expands setting and directory specifiers", () => {
    const d = tree({
      "mkosi.conf":
        "[Distribution]\nDistribution=ubuntu\nRelease=lunar\nArchitecture=arm64\n[Output]\nImageId=id\nImageVersion=1.2.3\n" +
        "[Build]\nEnvironment=D=%d R=%r A=%a I=%i V=%v C=%C P=%P DD=%D IMG=%I F=%F PCT=%%\n",
      "mkosi.conf.d/abc.conf": "[Build]\nEnvironment=ABC=%C ABCP=%P\n",
    });
    const env = load(d).images[0]?.Environment as Record<string, string>;
    expect(env).toMatchObject({
      D: "ubuntu",
      R: "lunar",
      A: "arm64",
      I: "id",
      V: "1.2.3",
      C: d,
      P: d,
      DD: d,
    });
    expect(env).toMatchObject({ IMG: "main", F: "ext4", PCT: "%", ABC: `${d}/mkosi.conf.d`, ABCP: d });
  });
  it("drops unknown and unset specifiers with a warning", () => {
    const warnings: string[] = [];
    const d = tree({ "mkosi.conf": "[Output]\nImageVersion=%%v%d-%Z\n" });
    expect(load(d, [], warnings).images[0]?.ImageVersion).toBe("%vdebian-");
    expect(warnings.some((w) => w.includes("%Z"))).toBe(true);
  });
  it("keeps delayed & specifiers", () => {
    expect(conf("[Build]\nCacheKey=&d-&r\n").CacheKey).toBe("&d-&r");
  });
  it("computes BuildSubdirectory from BuildKey", () => {
    const d = tree({ "mkosi.conf": "[Output]\nImageId=x\n", "mkosi.builddir/": null });
    const img = load(d).images[0];
    expect(img?.BuildSubdirectory).toBe(
      `${d}/mkosi.builddir/debian~bookworm~x86-64`.replace("x86-64", String(img?.Architecture)),
    );
  });
});

describe("files and includes", () => {
  it("lists parsed files in order, local config first", () => {
    const d = tree({
      "mkosi.conf": "[Output]\nImageId=a\n",
      "mkosi.local.conf": "[Output]\nImageId=local\n",
      "mkosi.conf.d/10.conf": "[Output]\nImageId=b\n",
      "mkosi.conf.d/20.noconf": "[Output]\nImageId=c\n",
    });
    const img = load(d).images[0];
    expect(img?.Files).toEqual([`${d}/mkosi.local.conf`, `${d}/mkosi.conf`, `${d}/mkosi.conf.d/10.conf`]);
    expect(img?.ImageId).toBe("local");
  });
  it("includes are parsed in place and only once", () => {
    const d = tree({
      "mkosi.conf": "[Include]\nInclude=inc.conf\n[Output]\nImageId=after\n[Include]\nInclude=inc.conf\n",
      "inc.conf": "[Output]\nImageId=inc\n[Content]\nPackages=x\n",
    });
    const img = load(d).images[0];
    expect(img?.ImageId).toBe("after");
    expect(img?.Packages).toEqual(["x"]);
  });
  it("a missing include is an error naming the file", () => {
    const d = tree({ "mkosi.conf": "[Include]\nInclude=missing.conf\n" });
    expect(() => load(d)).toThrow(/missing.conf does not exist/);
  });
  it("builtin includes", () => {
    const c = conf("[Distribution]\nDistribution=arch\n[Include]\nInclude=mkosi-tools\n");
    expect(c.Output).toBe("mkosi.tools");
    expect(c.Packages).toContain("pacman");
  });
  it("default paths", () => {
    const d = tree({
      "mkosi.extra/": null,
      "mkosi.skeleton.tar": "",
      "mkosi.build": "#!/bin/sh\n",
      "mkosi.version": "1.0\n",
    });
    const img = load(d).images[0];
    expect(img?.ExtraTrees).toEqual([{ Source: `${d}/mkosi.extra`, Target: null }]);
    expect(img?.SkeletonTrees).toEqual([{ Source: `${d}/mkosi.skeleton.tar`, Target: null }]);
    expect(img?.BuildScripts).toEqual([`${d}/mkosi.build`]);
    expect(img?.ImageVersion).toBe("1.0");
  });
  it("secret files must not be world-readable", () => {
    const d = tree({ "mkosi.rootpw": "pw\n" }, { "mkosi.rootpw": 0o644 });
    expect(() => load(d)).toThrow(/are too open/);
    const ok = tree({ "mkosi.rootpw": "pw\n" }, { "mkosi.rootpw": 0o600 });
    expect(load(ok).images[0]?.RootPassword).toEqual(["pw", false]);
  });
  it("profiles", () => {
    const c = main(
      {
        "mkosi.profiles/p.conf": "[Content]\nPackages=prof\n",
        "mkosi.profiles/q/mkosi.conf": "[Content]\nPackages=q\n",
      },
      ["--profile", "p"],
    );
    expect(c.Packages).toEqual(["prof"]);
  });
});

describe("errors", () => {
  it("unknown settings are fatal; wrong sections only warn", () => {
    expect(() => conf("[Output]\nNoSuch=1\n")).toThrow(/Unknown setting NoSuch/);
    const warnings: string[] = [];
    const d = tree({ "mkosi.conf": "[Content]\nImageId=x\n[Unknown]\nbroken line\n" });
    expect(load(d, [], warnings).images[0]?.ImageId).toBe("x");
    expect(warnings.join()).toMatch(/should be configured in \[Output\], not \[Content\]/);
  });
  it("errors carry file and line", () => {
    const d = tree({ "mkosi.conf": "[Content]\nWithDocs=maybe\n" });
    try {
      load(d);
      expect.unreachable();
    } catch (e) {
      expect((e as { describe(): string }).describe()).toBe(
        `${d}/mkosi.conf:2: WithDocs=: Invalid boolean literal: 'maybe'`,
      );
    }
  });
});

describe("subimages", () => {
  it("orders by dependencies, main last, and applies scopes", () => {
    const d = tree({
      "mkosi.conf":
        "[Distribution]\nDistribution=fedora\n[Output]\nImageId=main-id\n[Content]\nPackages=mainpkg\n",
      "mkosi.images/a.conf": "[Content]\nPackages=a\n",
      "mkosi.images/b.conf": "[Config]\nDependencies=c\n",
      "mkosi.images/c.conf": "[Output]\nImageId=c-id\n",
      "mkosi.images/d.conf": "[Match]\nDistribution=debian\n",
    });
    const r = load(d);
    expect(r.images.map((i) => i.Image)).toEqual(["a", "c", "b", "main"]);
    const [a, c] = r.images;
    expect(a?.Distribution).toBe("fedora");
    expect(a?.ImageId).toBe("main-id");
    expect(a?.Packages).toEqual(["a"]);
    expect(a?.Output).toBe("a");
    expect(c?.ImageId).toBe("c-id");
    expect(r.images[3]?.Dependencies).toEqual(["a", "b", "c"]);
  });
  it("universal settings are an error in subimages", () => {
    const d = tree({ "mkosi.conf": "", "mkosi.images/a.conf": "[Distribution]\nDistribution=arch\n" });
    expect(() => load(d)).toThrow(/Setting Distribution cannot be configured in a image/);
  });
  it("cycles are an error", () => {
    const d = tree({
      "mkosi.conf": "",
      "mkosi.images/a.conf": "[Config]\nDependencies=b\n",
      "mkosi.images/b.conf": "[Config]\nDependencies=a\n",
    });
    expect(() => load(d)).toThrow(/Image dependency cycle detected: a => b => a/);
  });
});

describe("tools tree", () => {
  it("ToolsTree=default produces a Tools image", () => {
    const d = tree({ "mkosi.conf": "[Build]\nToolsTree=default\nToolsTreeProfiles=misc\n" });
    const r = load(d);
    expect(r.images[0]?.ToolsTree).toBe(`${d}/mkosi.tools`);
    expect(r.tools?.Image).toBe("tools");
    expect(r.tools?.Format).toBe("directory");
    expect(r.tools?.Release).toBe("testing");
    expect(r.tools?.Profiles).toEqual(["misc"]);
    expect(r.tools?.Packages).toContain("jq");
  });
});

describe("JSON", () => {
  it("dumps like Python's json.dumps(indent=4, sort_keys=True)", () => {
    expect(dumpJson({ b: [], a: {}, c: [1, "x"], CPUs: 1, CDROM: false, CacheDirectory: null })).toBe(
      '{\n    "CDROM": false,\n    "CPUs": 1,\n    "CacheDirectory": null,\n    "a": {},\n    "b": [],\n    "c": [\n        1,\n        "x"\n    ]\n}',
    );
  });
  it("escapes non-ASCII", () => {
    expect(dumpJson('café\n"')).toBe('"caf\\u00e9\\n\\""');
    expect(dumpJson("😀")).toBe('"\\ud83d\\ude00"');
  });
  it("summary has Images and Tools", () => {
    const doc = JSON.parse(summaryJson(load(tree({ "mkosi.conf": "" }))));
    expect(Object.keys(doc)).toEqual(["Images", "Tools"]);
    expect(doc.Tools).toBeNull();
  });
});

describe("MinimumVersion=commit:", () => {
  it("accepts a commit it cannot verify, with a warning naming the commit it implements", () => {
    const warnings: string[] = [];
    const d = tree({
      "mkosi.conf": "[Config]\nMinimumVersion=commit:5e739ef1ed02a4f3b6ae64e50a8ee186cbcb21c2\n",
    });
    expect(load(d, [], warnings).images[0]?.MinimumVersion).toBe(
      "commit:5e739ef1ed02a4f3b6ae64e50a8ee186cbcb21c2",
    );
    expect(warnings).toEqual([
      "Cannot verify MinimumVersion=commit:5e739ef1ed02a4f3b6ae64e50a8ee186cbcb21c2: this mkosi implements " +
        "upstream mkosi 26~devel as of commit 4c021322d87a and does not know upstream's history; assuming " +
        "the required commit is included",
    ]);
  });
  it("accepts the commit it implements without a warning", () => {
    const warnings: string[] = [];
    const d = tree({ "mkosi.conf": "[Config]\nMinimumVersion=commit:4c021322d87a\n" });
    expect(load(d, [], warnings).images[0]?.MinimumVersion).toBe("commit:4c021322d87a");
    expect(warnings).toEqual([]);
  });
});
