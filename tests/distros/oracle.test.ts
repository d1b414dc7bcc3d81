// Our generated package manager configuration against the reference's, recorded by
// tools/oracle/distros/record.mjs for the cases in fixtures/distros: the same mkosi.conf and sandbox
// tree go through our config loader and the package manager's describe(), and the configuration files,
// command lines and environment must equal what the reference's package manager was given.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseArgs } from "../../cli/args.js";
import { checkImageConfig } from "../../config/image.js";
import { loadConfig } from "../../config/loader.js";
import { loadInstaller } from "../../distros/installer.js";
import { distroConfig } from "../../tasks/packaging.js";
import { listCases, renderConf } from "../helpers/distro-oracle.mjs";

interface Call {
  tool: string;
  args: string[];
  env: Record<string, string>;
  files: Record<string, string>;
}

interface Case {
  name: string;
  description: string;
  settings: Record<string, unknown>;
  sandbox: Record<string, string>;
  expected?: { calls: Call[]; error?: string };
}

/** The configuration the stub dumps (tools/oracle/distros/stub). */
const DUMPED = [
  "dnf",
  "yum.repos.d",
  "rpm",
  "zypp",
  "pacman.conf",
  "pacman.d",
  "mkosi-local.conf",
  "crypto-policies",
];
/** The environment the stub dumps. */
const ENV = /^(RPM_|ZYPP|HOME$|SYSTEMD_IN_CHROOT$|SYSTEMD_HWDB|KERNEL_INSTALL|BOOT_|hostonly|PACMAN|GNUPG)/;

async function files(etc: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (path: string) => {
    for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) await walk(full);
      else out[`/etc/${relative(etc, full)}`] = await readFile(full, "utf8");
    }
  };
  for (const name of DUMPED) {
    const full = join(etc, name);
    const content = await readFile(full, "utf8").catch(() => undefined);
    if (content !== undefined) out[`/etc/${name}`] = content;
    else await walk(full);
  }
  return out;
}

const cases = (listCases() as Case[]).filter((c) => c.expected);

/**
 * Known differences (a third is below: the pacman keyring with RepositoryKeyCheck=no). RHEL's entitlement certificates from a sandbox tree: the reference writes the
 * path of its workspace copy on the host (below /var/tmp/mkosi-workspace-XXX/sandbox/etc), which dnf in its
 * sandbox cannot open; we write the path dnf sees (/etc/...). And a key that only a sandbox tree's /usr/share/distribution-gpg-keys has (and
 * the tools tree or host lacks) cannot be shown at that path in our sandbox, whose /usr is a read-only
 * bind without that directory; it is shown as /etc/pki/rpm-gpg/<name> instead (pm/common.ts).
 */
function normalize(c: Case, text: string): string {
  let out = text.replace(/\/var\/tmp\/mkosi-workspace-[^/]+\/sandbox\/etc\//g, "/etc/");
  for (const path of Object.keys(c.sandbox)) {
    const m = /^usr\/share\/distribution-gpg-keys\/[^/]+\/([^/]+)$/.exec(path);
    if (m) out = out.replaceAll(`file:///${path}`, `file:///etc/pki/rpm-gpg/${m[1]}`);
  }
  return out;
}

describe("package manager configuration matches the reference", () => {
  let base: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "mkosi-oracle-test-"));
  });
  afterAll(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  for (const c of cases) {
    it(`${c.name}: ${c.description}`, async () => {
      const dir = join(base, c.name);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, "mkosi.conf"), `${renderConf(c.settings)}\n[Output]\nFormat=directory\n`);
      for (const [path, content] of Object.entries(c.sandbox)) {
        const target = join(dir, "mkosi.sandbox", path);
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, content);
      }
      const { args } = parseArgs(["-C", dir, "build"], dir);
      const loaded = await loadConfig(args, { warn: () => {} });
      const image = checkImageConfig(loaded.images[0]!);
      const installer = await loadInstaller(image.Distribution);
      const describeCalls = installer.packageManager.describe;
      if (!describeCalls) throw new Error(`${installer.packageManager.name} cannot describe its calls`);
      const work = join(dir, ".work");
      const run = () =>
        describeCalls(
          {
            config: distroConfig(image),
            workDir: work,
            metadataDir: join(work, "metadata"),
            packageCacheDir: join(work, "packages"),
            sandboxTrees: image.SandboxTrees,
          },
          installer.distribution as never,
          image.Packages,
        );
      const expected = { ...c.expected! };
      // A third: with RepositoryKeyCheck=no we make no pacman keyring (nothing checks signatures then).
      if (c.settings.RepositoryKeyCheck === false)
        expected.calls = expected.calls.filter((call) => call.tool !== "pacman-key");
      if (expected.error) {
        // The reference stops before running anything; so do we, saying the same thing.
        const phrase = expected.error.replace(/\.$/, "").split(/ in \/| \(|;/)[0]!;
        await expect(run()).rejects.toThrow(phrase);
        return;
      }
      const mine = await run();
      // The configuration as a whole: files the reference wrote between calls come with later calls.
      const all = Object.assign({}, ...c.expected!.calls.map((call) => call.files)) as Record<string, string>;
      const want = Object.fromEntries(Object.entries(all).map(([path, text]) => [path, normalize(c, text)]));
      expect(await files(mine.etc)).toEqual(want);
      // The package manager's calls in order; other tools' calls (pacman-key, rpm --import) as a set,
      // as they may come at another point (rpm imports keys into the image when it is bootstrapped,
      // the reference when it writes the configuration).
      const pm = installer.packageManager.name;
      const tool = (args: string[]) => args[0]!;
      const ours = mine.calls.filter((call) => tool(call.args) === pm);
      const theirs = expected.calls.filter((call) => call.tool === pm);
      expect(ours.map((call) => call.args)).toEqual(theirs.map((call) => [call.tool, ...call.args]));
      const others = (calls: string[][]) => [...new Set(calls.map((args) => args.join(" ")))].sort();
      expect(others(mine.calls.filter((call) => tool(call.args) !== pm).map((call) => call.args))).toEqual(
        others(expected.calls.filter((call) => call.tool !== pm).map((call) => [call.tool, ...call.args])),
      );
      for (const [i, call] of theirs.entries()) {
        const env = Object.fromEntries(Object.entries(ours[i]!.env).filter(([k]) => ENV.test(k)));
        expect(env).toEqual(call.env);
      }
    });
  }
});
