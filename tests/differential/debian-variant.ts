// The real-Debian variant: a small bookworm image (apt, the shared package cache of the pipeline tests)
// whose edits add and remove packages, remove packages after installation, change apt's configuration
// through a sandbox tree, override package files from an extra tree, run scripts in and around the image
// (one of them installs a package with apt), and toggle the settings the systemd tools read.
//
// Nothing is volatile: SourceDateEpoch= is set (dpkg and apt logs are dropped, times clamped, the root
// password's salt derived) and Seed= is fixed. The repositories are another matter: every clean build syncs
// the metadata, while an incremental build syncs it only when a package step has to run (CacheOnly=auto),
// so an archive update between the two would show as a mismatch that no cache caused. The sources are
// therefore the release suite alone (it changes at point releases only), without -updates and -security
// (bookworm-security changed twice during the first runs of this test).
//
// Extra-tree paths are never paths that a Debian package makes a symlink (/etc/localtime, /usr/bin/awk,
// /var/run, …): the copy (in the sandbox, so the link cannot lead it to the host, see
// host-symlink-write-through.test.ts) fails on such a link in both builds, which tests nothing.
import { hostMirrors, PACKAGE_CACHE } from "../pipeline/harness.js";
import {
  defaultLinkTargets,
  type EditKind,
  noopEdits,
  outputRemovalEdits,
  type SettingChoices,
  scriptEdits,
  settingEdits,
  treeEdits,
} from "./generator.js";
import type { Prng } from "./prng.js";
import type { Variant } from "./runner.js";

/** deb822 sources for bookworm through the host's mirror: the release suite only. */
function releaseOnlySources(): string {
  const keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
  return `Types: deb\nURIs: ${hostMirrors().debian}\nSuites: bookworm\nComponents: main\nSigned-By: ${keyring}\n`;
}

const FILES = [
  "etc/motd",
  "etc/issue",
  "etc/protocols",
  "etc/diff/app.conf",
  "usr/share/diff/data",
  "usr/lib/sysusers.d/diff.conf",
  "usr/lib/tmpfiles.d/diff.conf",
];
const DIRS = [
  "etc",
  "etc/diff",
  "usr",
  "usr/share",
  "usr/share/diff",
  "usr/lib",
  "usr/lib/sysusers.d",
  "usr/lib/tmpfiles.d",
];

/** Small packages with few dependencies. */
const PACKAGES = ["netbase", "less", "patch", "bzip2", "cpio", "kmod", "procps", "tzdata"];

function packageSet(rng: Prng): string {
  return rng
    .shuffle(PACKAGES)
    .slice(0, 1 + rng.int(4))
    .sort()
    .join(",");
}

const SETTINGS: SettingChoices = {
  Format: ["directory", "directory", "tar"],
  RemovePackages: [null, "less", "patch,bzip2"],
  CleanPackageMetadata: [null, "yes", "no"],
  Hostname: [null, "deb", "other"],
  Locale: [null, "C.UTF-8"],
  Timezone: [null, "Europe/Berlin", "UTC"],
  RootPassword: [null, "hunter2"],
  RemoveFiles: [null, "/etc/protocols", "/usr/share/diff", "/var/cache/debconf/*-old"],
  Environment: [null, "GREETING=hello", "GREETING=bye"],
  ManifestFormat: [null, "json"],
};

function imageScript(rng: Prng): string {
  const t = rng.token();
  return rng.pick([
    `mkdir -p "$BUILDROOT/etc/diff" && echo ${t} > "$BUILDROOT/etc/diff/postinst"`,
    `dpkg-query --admindir="$BUILDROOT/var/lib/dpkg" -W -f '\${Package}\\n' | sort > "$BUILDROOT/etc/diff-packages"`,
    `rm -f "$BUILDROOT/etc/issue"`,
    `echo "\${GREETING-unset}" > "$BUILDROOT/etc/diff-greeting"`,
    `if [ -f "$BUILDROOT/etc/protocols" ]; then chmod 0600 "$BUILDROOT/etc/protocols"; fi`,
  ]);
}

function chrootScript(rng: Prng): string {
  const t = rng.token();
  return rng.pick([
    `mkdir -p /etc/diff && echo ${t} > /etc/diff/chroot`,
    `ls /usr/bin | sort > /etc/diff-usr-bin`,
    `getent passwd | cut -d: -f1 | sort > /etc/diff-users`,
  ]);
}

function prepareScript(rng: Prng): string {
  // Installs a package with apt from a script (mkosi-install), in the final image only.
  return rng.pick([
    'if [ "$1" = final ]; then mkosi-install file; fi',
    'if [ "$1" = final ]; then mkosi-install cpio; fi',
    `mkdir -p "$BUILDROOT/etc/diff" && echo "$1" >> "$BUILDROOT/etc/diff/prepare"`,
  ]);
}

function buildScript(rng: Prng): string {
  const t = rng.token();
  return rng.pick([
    `mkdir -p "$DESTDIR/usr/share/diff" && echo ${t} > "$DESTDIR/usr/share/diff/built"`,
    `mkdir -p "$DESTDIR/usr/lib/sysusers.d" && echo 'u diffbuild - "built user"' > "$DESTDIR/usr/lib/sysusers.d/diffbuild.conf"`,
  ]);
}

const KINDS: EditKind[] = [
  {
    name: "packages",
    weight: 6,
    make: ({ rng, settings }) => {
      const value = packageSet(rng);
      return value === settings.get("Packages") ? undefined : [{ op: "set", key: "Packages", value }];
    },
  },
  ...settingEdits(SETTINGS, 1.2),
  ...treeEdits(
    { roots: ["mkosi.extra"], files: FILES, dirs: DIRS, linkTargets: defaultLinkTargets(FILES) },
    0.2,
  ),
  {
    name: "sysusers/tmpfiles entries",
    weight: 1.5,
    make: ({ rng }) => [
      rng.chance(0.5)
        ? {
            op: "write",
            path: "mkosi.extra/usr/lib/sysusers.d/diff.conf",
            data: `u diff${rng.token(3)} - "differential user"\n`,
          }
        : {
            op: "write",
            path: "mkosi.extra/usr/lib/tmpfiles.d/diff.conf",
            data: `d /var/lib/diff-${rng.token(3)} 0750 root root -\n`,
          },
    ],
  },
  {
    name: "apt configuration (sandbox tree)",
    weight: 1.5,
    make: ({ rng }) => [
      rng.chance(0.3)
        ? { op: "remove", path: "mkosi.sandbox/etc/apt/apt.conf.d/90-differential.conf" }
        : {
            op: "write",
            path: "mkosi.sandbox/etc/apt/apt.conf.d/90-differential.conf",
            data: rng.pick(['APT::Install-Recommends "true";\n', 'APT::Install-Recommends "false";\n']),
          },
    ],
  },
  ...scriptEdits(
    [
      { path: "mkosi.postinst", actions: imageScript },
      { path: "mkosi.postinst.chroot", actions: chrootScript },
      { path: "mkosi.prepare", actions: prepareScript },
      { path: "mkosi.build", actions: buildScript },
      { path: "mkosi.finalize", actions: imageScript },
    ],
    1.2,
  ),
  ...outputRemovalEdits(0.3),
  ...noopEdits(["mkosi.conf", "mkosi.extra", "mkosi.sandbox"], 0.5),
];

export const debianVariant: Variant = {
  name: "debian",
  testFile: "tests/differential/debian.test.ts",
  settings: [
    ["Distribution", "debian"],
    ["Release", "bookworm"],
    ["Format", "directory"],
    ["Output", "img"],
    ["Seed", "0e9a6fe0-68f6-408c-bbeb-136054d20445"],
    ["SourceDateEpoch", "1700000000"],
    ["WithDocs", "no"],
    ["Packages", "netbase"],
    ["Hostname", "deb"],
    ["PackageCacheDirectory", PACKAGE_CACHE],
  ],
  initial: [
    {
      op: "write",
      path: "mkosi.sandbox/etc/apt/sources.list.d/mkosi.sources",
      data: releaseOnlySources(),
    },
    { op: "write", path: "mkosi.extra/etc/motd", data: "differential\n" },
  ],
  kinds: KINDS,
  mtimes: true,
};
