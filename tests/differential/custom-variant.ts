// The fast variant: a Distribution=custom image (no package manager) made of skeleton, base and extra
// trees and scripts that run with the host's tools ($BUILDROOT is the image; nothing runs inside it), so
// that a build takes about a second and a run of hundreds of edits fits in a few minutes.
//
// Nothing in its output is volatile: SourceDateEpoch= is always set (every time in the output is clamped
// to it, so modification times are compared too) and Seed= is fixed. Not compared: outputs of other names
// left in the incremental output directory by earlier configurations (an output directory keeps them,
// as upstream's does), inode numbers, atime/ctime, directory sizes (listing.ts).
import {
  defaultLinkTargets,
  dropinEdits,
  type EditKind,
  noopEdits,
  outputRemovalEdits,
  type SettingChoices,
  scriptEdits,
  settingEdits,
  treeEdits,
} from "./generator.js";
import { unescapeBytes } from "./listing.js";
import type { Op } from "./ops.js";
import type { Prng } from "./prng.js";
import type { Variant } from "./runner.js";

/** Leaves (files or links) inside a tree: overlapping between trees, some names not UTF-8 (\xe9 alone is
 * Latin-1 é, \xc3\xa9 is UTF-8 é), one with a newline, one with a space. */
const FILES = [
  "etc/motd",
  "etc/issue",
  "etc/app.conf",
  "etc/dir/sub/file",
  "etc/dir/caf\\xc3\\xa9",
  "etc/caf\\xe9",
  "etc/\\xff\\xfename",
  "etc/new\\x0aline",
  "etc/with\\x20space",
  "etc/d\\xe9r/f",
  "usr/share/data/a.txt",
  "usr/share/data/b.bin",
  "opt/tool",
];

/** Is an escaped path valid UTF-8? */
function utf8(path: string): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(unescapeBytes(path));
    return true;
  } catch {
    return false;
  }
}

/** Directories inside a tree (every parent of a leaf). */
const DIRS = ["etc", "etc/dir", "etc/dir/sub", "etc/d\\xe9r", "usr", "usr/share", "usr/share/data", "opt"];

const TREES = [
  "mkosi.skeleton",
  "trees/a",
  "trees/b",
  "mkosi.extra",
  "trees/x",
  "trees/y",
  "trees/t",
  "base",
  "src",
];

/** Paths scripts act on: the leaves that are plain ASCII, plus their own. */
const SCRIPT_PATHS = [
  "etc/motd",
  "etc/issue",
  "etc/app.conf",
  "etc/dir/sub/file",
  "usr/share/data/a.txt",
  "opt/tool",
];

const SETTINGS: SettingChoices = {
  Format: ["directory", "directory", "directory", "tar", "cpio", "none"],
  Output: ["img", "img2", null],
  CompressOutput: [null, "no", "zstd", "gz", "xz"],
  CompressLevel: [null, "1", "9"],
  Incremental: [null, "yes", "no"],
  BuildSourcesEphemeral: [null, "yes"],
  ImageId: [null, "custom-os"],
  ImageVersion: [null, "1.0", "2.0"],
  OutputMode: [null, "0600", "0640"],
  ManifestFormat: [null, "json"],
  SourceDateEpoch: ["1700000000", "1600000000"],
  SkeletonTrees: [null, "trees/a,trees/b", "trees/b,trees/a", "trees/a", "trees/b,trees/a:/opt/sk"],
  ExtraTrees: [
    null,
    "trees/x,trees/y",
    "trees/y,trees/x",
    "trees/x:/opt/x,trees/y",
    "trees/t.tar",
    "trees/t.tar,trees/x",
  ],
  BaseTrees: [null, "base"],
  RemoveFiles: [null, "/etc/issue", "/etc/dir", "/usr/share/data/*.txt", "/etc/**/file,/opt"],
  Hostname: [null, "alpha", "beta"],
  Locale: [null, "C.UTF-8", "en_US.UTF-8"],
  Timezone: [null, "Europe/Berlin", "UTC"],
  Keymap: [null, "us", "de"],
  RootPassword: [null, "hunter2", "correct horse"],
  MachineId: [null, "b0a5c9d2e9f14d6f9bd3a1c4e5f60718"],
  Autologin: [null, "yes"],
  MakeInitrd: [null, "yes"],
  Environment: [null, "GREETING=hello", "GREETING=bye OTHER=1"],
  Checksum: [null, "yes"],
};

/** Drop-ins set a few of the same settings (later files win, lists add up). */
const DROPIN_SETTINGS: SettingChoices = {
  Hostname: ["gamma", "delta"],
  RemoveFiles: ["/etc/motd", "/opt/tool"],
  ExtraTrees: ["trees/y", "trees/x:/srv"],
  Environment: ["GREETING=dropin", "OTHER=2"],
  ImageVersion: ["3.0"],
  Locale: ["de_DE.UTF-8"],
};

// Script actions. Every line is guarded: a script fails only if the sandbox is broken. Paths that may be
// symlinks are tested with -L first, so nothing follows a link.

/** Are the build sources ephemeral in this build (BuildSourcesEphemeral=yes)? */
const EPHEMERAL = `grep -q '"BuildSourcesEphemeral": *"yes"' "$MKOSI_CONFIG"`;

function imageActions(root: string, kind: string, nonUtf8: boolean) {
  return (rng: Prng): string => {
    const p = rng.pick(SCRIPT_PATHS);
    const dir = p.slice(0, p.lastIndexOf("/"));
    const t = rng.token();
    const file = `"${root}/${p}"`;
    const plain = `[ -f ${file} ] && [ ! -L ${file} ]`;
    const actions = [
      `mkdir -p "${root}/${dir}" && rm -rf ${file} && echo ${t} > ${file}`,
      `mkdir -p "${root}/etc" && echo ${kind}-${t} >> "${root}/etc/${kind}.log"`,
      `rm -rf ${file}`,
      `if ${plain}; then chmod ${rng.pick(["0600", "0755", "0640"])} ${file}; fi`,
      `if ${plain}; then chown ${rng.pick(["1000:1000", "65534:0", "0:0"])} ${file}; fi`,
      `mkdir -p "${root}/${dir}" && rm -rf ${file} && ln -s ${rng.pick(["motd", "issue", "../nowhere"])} ${file}`,
      `mkdir -p "${root}/var/lib/${kind}/${t}"`,
      `if ${plain}; then setfattr -n user.${kind} -v ${t} ${file}; fi`,
      `mkdir -p "${root}/etc" && echo "\${GREETING-unset} \${OTHER-unset}" > "${root}/etc/greeting-${kind}"`,
      `mkdir -p "${root}/etc" && grep -o '"Hostname": *[^,]*' "$MKOSI_CONFIG" > "${root}/etc/config-${kind}" || true`,
      nonUtf8
        ? `mkdir -p "${root}/etc" && printf '${t}' > "${root}/etc/$(printf 'caf\\351')-${kind}"`
        : `mkdir -p "${root}/etc" && printf '${t}' > "${root}/etc/caf\u00e9-${kind}"`,
      `if ${plain}; then ln -f ${file} "${root}/etc/hardlink-${kind}"; fi`,
      `mkdir -p "${root}/etc" && rm -f "${root}/etc/fifo-${kind}" && mkfifo "${root}/etc/fifo-${kind}"`,
      `if [ -f "$SRCDIR/input" ]; then mkdir -p "${root}/etc" && cp "$SRCDIR/input" "${root}/etc/from-src-${kind}"; fi`,
      // A directory of a lower layer removed and made again: opaque in this layer.
      `rm -rf "${root}/etc/dir" && mkdir -p "${root}/etc/dir" && echo ${t} > "${root}/etc/dir/recreated"`,
      // A directory of a lower layer renamed.
      `d="${root}/usr/share/data"; if [ -d "$d" ] && [ ! -L "$d" ]; then rm -rf "${root}/usr/share/moved" && mv "$d" "${root}/usr/share/moved"; fi`,
      `d="${root}/etc/dir"; if [ -d "$d" ] && [ ! -L "$d" ]; then chmod ${rng.pick(["0700", "0755", "2750"])} "$d"; fi`,
      // A file that becomes a directory.
      `mkdir -p "${root}/${dir}" && rm -rf ${file} && mkdir ${file} && echo ${t} > ${file}/inside`,
      // A time older than SourceDateEpoch= is not clamped: it is kept as it is.
      `if ${plain}; then touch -d @1000000000 ${file}; fi`,
    ];
    if (kind === "prepare")
      actions.push(
        `if ${EPHEMERAL}; then echo ${t} >> "$SRCDIR/input"; fi; cp "$SRCDIR/input" "${root}/etc/prepare-input" 2>/dev/null || true`,
      );
    if (kind === "prepare")
      actions.push(`mkdir -p "${root}/etc" && echo "$1" >> "${root}/etc/prepare-phases"`);
    return rng.pick(actions);
  };
}

const buildActions =
  (nonUtf8: boolean) =>
  (rng: Prng): string => {
    const t = rng.token();
    const d = '"$DESTDIR';
    return rng.pick([
      `mkdir -p ${d}/usr/bin" && echo ${t} > ${d}/usr/bin/built" && chmod 0755 ${d}/usr/bin/built"`,
      `mkdir -p ${d}/usr/src/app" && cp -a "$SRCDIR/." ${d}/usr/src/app/"`,
      // Writes into the sources only where they are ephemeral (else the build would change its own input).
      `if ${EPHEMERAL}; then echo ${t} > "$SRCDIR/generated" && mkdir -p ${d}/usr/share" && cp "$SRCDIR/generated" ${d}/usr/share/generated"; fi`,
      `mkdir -p ${d}/etc" && echo ${t} > ${d}/etc/motd"`,
      `mkdir -p ${d}/opt" && ln -sfn ../usr/bin/built ${d}/opt/tool"`,
      `mkdir -p ${d}/usr/lib" && echo "\${GREETING-unset}" > ${d}/usr/lib/greeting"`,
      `mkdir -p ${d}/var/lib/build" && echo ${t} > ${d}/var/lib/build/state" && chown 1000:1000 ${d}/var/lib/build/state"`,
      `if [ -f "$SRCDIR/input" ]; then mkdir -p ${d}/usr/share" && cat "$SRCDIR/input" > ${d}/usr/share/input"; fi`,
      nonUtf8
        ? `mkdir -p ${d}/etc" && printf '${t}' > ${d}/etc/$(printf '\\377\\376')-built"`
        : `mkdir -p ${d}/etc" && printf '${t}' > ${d}/etc/built-${t.slice(0, 2)}"`,
    ]);
  };

/** Post-output scripts run after SourceDateEpoch= has clamped the image's times, so they set the times of
 * what they write themselves (as a user who wants a reproducible output directory must). */
function postoutputActions(rng: Prng): string {
  const t = rng.token();
  const fixed = (path: string) => `touch -h -d @1600000000 "$OUTPUTDIR/${path}"`;
  return rng.pick([
    `echo ${t} > "$OUTPUTDIR/extra.txt" && ${fixed("extra.txt")}`,
    // The listing is taken before listing.txt is created (`ls | sort > listing.txt` races with the
    // redirection: a script of its own that gives another output on each run).
    `names=$(ls "$OUTPUTDIR" | sort) && printf '%s\\n' "$names" > "$OUTPUTDIR/listing.txt" && ${fixed("listing.txt")}`,
    `mkdir -p "$OUTPUTDIR/extra.d" && echo ${t} > "$OUTPUTDIR/extra.d/${t.slice(0, 2)}" && ${fixed(`extra.d/${t.slice(0, 2)}`)} && ${fixed("extra.d")}`,
  ]);
}

const scripts = (nonUtf8: boolean) => [
  { path: "mkosi.prepare", actions: imageActions("$BUILDROOT", "prepare", nonUtf8) },
  { path: "mkosi.build", actions: buildActions(nonUtf8) },
  { path: "mkosi.build.d/20-more.sh", actions: buildActions(nonUtf8) },
  { path: "mkosi.postinst", actions: imageActions("$BUILDROOT", "postinst", nonUtf8) },
  { path: "mkosi.postinst.d/10-first.sh", actions: imageActions("$BUILDROOT", "postinst", nonUtf8) },
  { path: "mkosi.postinst.d/20-second.sh", actions: imageActions("$BUILDROOT", "postinst", nonUtf8) },
  { path: "mkosi.finalize", actions: imageActions("$BUILDROOT", "finalize", nonUtf8) },
  { path: "mkosi.postoutput", actions: postoutputActions },
];

const kinds = (nonUtf8: boolean, postoutput: boolean): EditKind[] => {
  const files = nonUtf8 ? FILES : FILES.filter(utf8);
  const dirs = nonUtf8 ? DIRS : DIRS.filter(utf8);
  return [
    ...treeEdits({ roots: TREES, files, dirs, linkTargets: defaultLinkTargets(files) }, 1),
    {
      name: "repack tar tree",
      weight: 1.5,
      make: () => [{ op: "tar", dir: "trees/t", archive: "trees/t.tar" }],
    },
    ...settingEdits(SETTINGS, 1),
    ...dropinEdits(DROPIN_SETTINGS, ["10-a.conf", "20-b.conf", "30-c.conf"], 1),
    ...scriptEdits(
      scripts(nonUtf8).filter((slot) => postoutput || slot.path !== "mkosi.postoutput"),
      1,
    ),
    {
      name: "environment file",
      weight: 0.7,
      make: ({ rng }) =>
        rng.chance(0.3)
          ? [{ op: "remove", path: "mkosi.env" }]
          : [{ op: "write", path: "mkosi.env", data: `GREETING=${rng.token()}\n` }],
    },
    ...outputRemovalEdits(0.7),
    ...noopEdits(["mkosi.conf", "mkosi.conf.d", "mkosi.build", "mkosi.postinst", ...TREES], 1),
  ];
};

const w = (path: string, data: string, mode?: number): Op => ({
  op: "write",
  path,
  data,
  ...(mode ? { mode } : {}),
});

const INITIAL: Op[] = [
  w("mkosi.skeleton/usr/lib/os-release", "ID=custom\nNAME=Custom\n"),
  w("mkosi.skeleton/etc/issue", "skeleton issue\n"),
  w("trees/a/etc/motd", "motd from a\n"),
  w("trees/a/etc/app.conf", "a=1\n"),
  w("trees/b/etc/motd", "motd from b\n"),
  w("trees/b/usr/share/data/a.txt", "data from b\n"),
  w("mkosi.extra/etc/dir/sub/file", "extra file\n"),
  w("trees/x/opt/tool", "tool from x\n", 0o755),
  w("trees/y/opt/tool", "tool from y\n", 0o755),
  w("trees/t/etc/app.conf", "from the tar tree\n"),
  { op: "tar", dir: "trees/t", archive: "trees/t.tar" },
  w("base/etc/issue", "base issue\n"),
  { op: "chown", path: "base/etc/issue", uid: 1000, gid: 1000 },
  w("base/usr/share/data/b.bin", "base data\n"),
  w("src/input", "source input\n"),
  w("src/lib/x.c", "int x;\n"),
  w("mkosi.postinst", '#!/bin/sh\nset -e\necho postinst >> "$BUILDROOT/etc/postinst.log"\n', 0o755),
];

/** The variant. `without` leaves out features, to look for other mismatches while known ones are open
 * (MKOSI_DIFF_WITHOUT=non-utf8,postoutput): "non-utf8" (names that are not UTF-8), "postoutput" (post-output
 * scripts). */
export const makeCustomVariant = (without: ReadonlySet<string> = new Set()): Variant => ({
  name: "custom",
  testFile: "tests/differential/custom.test.ts",
  settings: [
    ["Distribution", "custom"],
    ["Format", "directory"],
    ["Output", "img"],
    ["Seed", "0e9a6fe0-68f6-408c-bbeb-136054d20445"],
    ["SourceDateEpoch", "1700000000"],
    ["SkeletonTrees", "trees/a,trees/b"],
    ["ExtraTrees", "trees/x,trees/y"],
    ["Hostname", "alpha"],
    ["BuildSources", "src"],
  ],
  initial: INITIAL,
  kinds: kinds(!without.has("non-utf8"), !without.has("postoutput")),
  without: [...without],
  mtimes: true,
});

/**
 * Features whose mismatches are known and whose fixes are not merged yet, each with a failing regression
 * test in pending/: left out of the default run so that CI tests everything else. Remove a name when its
 * pending test passes. `MKOSI_DIFF_WITHOUT=` (empty) runs them all.
 * None open now (non-utf8 and postoutput were, until their fixes merged).
 */
export const PENDING_FEATURES: string[] = [];

export const customVariant = makeCustomVariant(
  new Set((process.env.MKOSI_DIFF_WITHOUT ?? PENDING_FEATURES.join(",")).split(",").filter(Boolean)),
);
