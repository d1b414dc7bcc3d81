// Repository definitions as text: Debian (all releases), Ubuntu and Kali (whose mirrors are not reachable
// from CI, so only their configuration is tested), LocalMirror=, RepositoryKeyCheck=, apt.conf.
import { describe, expect, it } from "vitest";
import { debian } from "../../distros/debian.js";
import { distribution, distributionArchitecture } from "../../distros/index.js";
import { loadInstaller } from "../../distros/installer.js";
import { kali } from "../../distros/kali.js";
import { renderAptConf, renderDeb822 } from "../../distros/pm/apt.js";
import type { DistroConfig } from "../../distros/types.js";
import { ubuntu } from "../../distros/ubuntu.js";

function cfg(over: Partial<DistroConfig>): DistroConfig {
  return {
    Distribution: "debian",
    Release: "bookworm",
    Architecture: "x86-64",
    Mirror: null,
    LocalMirror: null,
    RepositoryKeyCheck: true,
    Repositories: [],
    WithDocs: true,
    WithRecommends: false,
    ...over,
  };
}

describe("debian repositories", () => {
  it("bookworm: main, updates and security with the archive keyring", () => {
    expect(renderDeb822(debian.repositories(cfg({})))).toBe(
      `Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`,
    );
  });

  it("sid/unstable have no updates or security suites; testing and trixie do", () => {
    for (const r of ["sid", "unstable"]) {
      expect(debian.repositories(cfg({ Release: r })).map((x) => x.suites[0])).toEqual([r]);
    }
    expect(debian.repositories(cfg({ Release: "trixie" })).map((x) => x.suites[0])).toEqual([
      "trixie",
      "trixie-updates",
      "trixie-security",
    ]);
    expect(debian.repositories(cfg({ Release: "testing" })).map((x) => x.suites[0])).toEqual([
      "testing",
      "testing-updates",
      "testing-security",
    ]);
    expect(debian.defaultRelease).toBe("testing");
  });

  it("Mirror=, Repositories= and a mirror that does not end in /debian", () => {
    const repos = debian.repositories(
      cfg({ Mirror: "http://mirror.example/debian/", Repositories: ["contrib", "non-free-firmware"] }),
    );
    expect(repos[0]!.uris).toEqual(["http://mirror.example/debian"]);
    expect(repos[0]!.components).toEqual(["main", "contrib", "non-free-firmware"]);
    expect(repos[2]!.uris).toEqual(["http://mirror.example/debian-security"]);
    const other = debian.repositories(cfg({ Mirror: "http://mirror.example/pub/deb" }));
    expect(other[2]!.uris).toEqual(["http://security.debian.org/debian-security"]);
  });

  it("LocalMirror= is a single trusted repository used only for the build; RepositoryKeyCheck=no trusts all", () => {
    const local = debian.repositories(cfg({ LocalMirror: "file:///srv/mirror", Mirror: "http://m/debian" }));
    expect(renderDeb822(local)).toBe(
      "Types: deb\nURIs: file:///srv/mirror\nSuites: bookworm\nComponents: main\nTrusted: yes\n",
    );
    expect(local[0]!.inImage).toBe(false);
    const insecure = debian.repositories(cfg({ RepositoryKeyCheck: false }));
    expect(insecure.every((r) => r.trusted && r.signedBy.length === 0)).toBe(true);
    expect(debian.repositories(cfg({})).flatMap((r) => r.signedBy)).toContain(
      "/usr/share/keyrings/debian-archive-keyring.gpg",
    );
  });

  it("architectures", () => {
    expect(distributionArchitecture(debian, "x86-64")).toBe("amd64");
    expect(distributionArchitecture(debian, "arm64")).toBe("arm64");
    expect(distributionArchitecture(debian, "ppc64-le")).toBe("ppc64el");
    expect(distributionArchitecture(debian, "loongarch64")).toBe("loong64");
    expect(() => distributionArchitecture(debian, "tilegx")).toThrow(/not supported/);
  });
});

describe("ubuntu repositories", () => {
  const u = (over: Partial<DistroConfig>) => cfg({ Distribution: "ubuntu", Release: "noble", ...over });
  it("x86-64 uses archive and security.ubuntu.com with the Ubuntu keyring", () => {
    expect(renderDeb822(ubuntu.repositories(u({ Repositories: ["universe"] })))).toBe(
      `Types: deb
URIs: http://archive.ubuntu.com/ubuntu
Suites: noble
Components: main universe
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg

Types: deb
URIs: http://archive.ubuntu.com/ubuntu
Suites: noble-updates
Components: main universe
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg

Types: deb
URIs: http://security.ubuntu.com/ubuntu
Suites: noble-security
Components: main universe
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg
`,
    );
    expect(ubuntu.defaultRelease).toBe("noble");
  });
  it("other architectures use ports; Mirror= is used for every suite", () => {
    const arm = ubuntu.repositories(u({ Architecture: "arm64" }));
    expect(arm.map((r) => r.uris[0])).toEqual([
      "http://ports.ubuntu.com/ubuntu-ports",
      "http://ports.ubuntu.com/ubuntu-ports",
      "http://ports.ubuntu.com/ubuntu-ports",
    ]);
    const m = ubuntu.repositories(u({ Mirror: "http://mirror.example" }));
    expect(m.map((r) => r.uris[0])).toEqual([
      "http://mirror.example/ubuntu",
      "http://mirror.example/ubuntu",
      "http://mirror.example/ubuntu",
    ]);
    expect(ubuntu.repositories(u({ Mirror: "http://mirror.example/ubuntu/" }))[0]!.uris).toEqual([
      "http://mirror.example/ubuntu",
    ]);
  });
});

describe("kali repositories", () => {
  it("kali-rolling from http.kali.org with the Kali keyring", () => {
    expect(
      renderDeb822(
        kali.repositories(cfg({ Distribution: "kali", Release: "kali-rolling", Repositories: ["contrib"] })),
      ),
    ).toBe(
      "Types: deb\nURIs: http://http.kali.org/kali\nSuites: kali-rolling\nComponents: main contrib\nSigned-By: /usr/share/keyrings/kali-archive-keyring.gpg\n",
    );
    expect(kali.defaultRelease).toBe("kali-rolling");
    expect(distribution("kali")).toBe(kali);
    expect(() => distribution("gentoo")).toThrow(/not supported/);
  });
});

describe("apt.conf", () => {
  it("isolates apt from the host and carries the settings", () => {
    const conf = renderAptConf({
      arch: "arm64",
      withDocs: false,
      withRecommends: true,
      keyCheck: false,
      proxy: "http://p:3128",
    });
    expect(conf).toMatch(/^Dir::Etc "\/etc\/apt";$/m);
    expect(conf).toMatch(/^Dir::State::Status "\/buildroot\/var\/lib\/dpkg\/status";$/m);
    expect(conf).toMatch(/^Dir::Cache::Archives "\/var\/cache\/apt\/archives\/";$/m);
    expect(conf).toMatch(/^APT::Architecture "arm64";$/m);
    expect(conf).toMatch(/^APT::Install-Recommends "true";$/m);
    expect(conf).toMatch(/"--root=\/buildroot"; /);
    expect(conf).toMatch(/"--force-unsafe-io";/);
    expect(conf).toMatch(/"--path-exclude=\/usr\/share\/doc\/\*"; /);
    expect(conf).toMatch(/"--path-include=\/usr\/share\/doc\/\*\/copyright";/);
    expect(conf).toMatch(/^Acquire::AllowInsecureRepositories "true";$/m);
    expect(conf).toMatch(/^Acquire::http::Proxy "http:\/\/p:3128";$/m);
    const plain = renderAptConf({ arch: "amd64", withDocs: true, withRecommends: false, keyCheck: true });
    expect(plain).not.toMatch(/path-exclude|AllowInsecure|Proxy/);
    expect(plain).toMatch(/^APT::Install-Recommends "false";$/m);
  });
});

describe("keyrings", () => {
  it("a missing keyring is a clear error before any download", async () => {
    const { existsSync } = await import("node:fs");
    const { mkdtemp, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    if (existsSync("/usr/share/keyrings/kali-archive-keyring.gpg")) return;
    const base = await mkdtemp(join(tmpdir(), "mkosi-keyring-test-"));
    try {
      const installer = await loadInstaller("kali");
      await expect(
        installer.syncMetadata({
          config: cfg({ Distribution: "kali", Release: "kali-rolling" }),
          workDir: join(base, "work"),
          metadataDir: join(base, "meta"),
          packageCacheDir: join(base, "pkgs"),
        }),
      ).rejects.toThrow(/kali-archive-keyring.gpg .*is missing; install kali-archive-keyring/);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});

describe("SandboxTrees= apt configuration", () => {
  it("uses repositories and apt.conf.d snippets from sandbox trees instead of generated ones", async () => {
    const { mkdir, mkdtemp, readdir, readFile, rm, writeFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const base = await mkdtemp(join(tmpdir(), "mkosi-sbt-test-"));
    try {
      const tree = join(base, "tree");
      await mkdir(join(tree, "apt/sources.list.d"), { recursive: true });
      await mkdir(join(tree, "apt/apt.conf.d"), { recursive: true });
      await writeFile(
        join(tree, "apt/sources.list.d/mine.sources"),
        "Types: deb\nURIs: http://example.org/debian\nSuites: x\n",
      );
      await writeFile(join(tree, "apt/apt.conf.d/99-mine"), 'Acquire::Retries "9";\n');
      // A link to a file outside the tree (like the host's sources) is read through.
      await writeFile(
        join(base, "outside.sources"),
        "Types: deb\nURIs: http://example.org/other\nSuites: y\n",
      );
      const { symlink } = await import("node:fs/promises");
      await symlink(join(base, "outside.sources"), join(tree, "apt/sources.list.d/linked.sources"));
      const ctx = {
        config: cfg({}),
        workDir: join(base, "work"),
        metadataDir: join(base, "meta"),
        packageCacheDir: join(base, "pkgs"),
        sandboxTrees: [{ Source: tree, Target: "/etc" }],
      };
      const support = await (await loadInstaller("debian")).scriptSupport(ctx);
      const etcApt = support.binds.find((b) => b.dst === "/etc/apt")!.src;
      expect((await readdir(join(etcApt, "sources.list.d"))).sort()).toEqual([
        "linked.sources",
        "mine.sources",
      ]);
      expect(await readFile(join(etcApt, "sources.list.d/linked.sources"), "utf8")).toMatch(
        /example.org\/other/,
      );
      const { lstat } = await import("node:fs/promises");
      expect((await lstat(join(etcApt, "sources.list.d/linked.sources"))).isFile()).toBe(true);
      expect(await readFile(join(etcApt, "apt.conf.d/99-mine"), "utf8")).toMatch(/Retries "9"/);
      // Without sandbox trees the generated repositories are used.
      const plain = await (await loadInstaller("debian")).scriptSupport({
        ...ctx,
        sandboxTrees: [],
        workDir: join(base, "work2"),
      });
      const etc2 = plain.binds.find((b) => b.dst === "/etc/apt")!.src;
      expect(await readdir(join(etc2, "sources.list.d"))).toEqual(["mkosi.sources"]);
      expect(plain.helpers["mkosi-install"]).toMatch(/apt-get install/);
      expect(plain.env.APT_CONFIG).toBe("/etc/apt/apt.conf");
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
