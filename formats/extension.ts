// System, configuration and portable extension images (Format=sysext, confext, portable): mkosi's
// partition definitions for them (an erofs root of /usr and /opt, /etc, or everything, with a verity
// hash and signature partition when signed) and the extension-release file systemd-sysext matches.

export type ExtensionKind = "sysext" | "confext" | "portable";

/** What the image copies into the extension's root partition. */
const COPY: Record<ExtensionKind, string[]> = {
  sysext: ["/usr/", "/opt/"],
  confext: ["/etc/"],
  portable: ["/"],
};

/** The definitions (file name → content): `verity` adds the hash partition, `signed` the signature. */
export function extensionDefinitions(
  kind: ExtensionKind,
  verity: { hash: boolean; signed: boolean },
): Record<string, string> {
  const root = [
    "[Partition]",
    "Type=root",
    "Format=erofs",
    ...COPY[kind].map((path) => `CopyFiles=${path}`),
    "Minimize=best",
    ...(verity.hash ? ["Verity=data", "VerityMatchKey=root"] : []),
    "SplitName=%t",
    "",
  ];
  const defs: Record<string, string> = { "10-root.conf": root.join("\n") };
  if (verity.hash)
    defs["20-root-verity.conf"] = [
      "[Partition]",
      "Type=root-verity",
      "Verity=hash",
      "VerityMatchKey=root",
      "Minimize=best",
      "SplitName=%t",
      "",
    ].join("\n");
  if (verity.signed)
    defs["30-root-verity-sig.conf"] = [
      "[Partition]",
      "Type=root-verity-sig",
      "Verity=signature",
      "VerityMatchKey=root",
      "SplitName=%t",
      "",
    ].join("\n");
  return defs;
}

/** Where the extension-release file goes in the image (null: portable images have none). */
export function extensionReleasePath(kind: ExtensionKind, output: string): string | null {
  if (kind === "sysext") return `usr/lib/extension-release.d/extension-release.${output}`;
  if (kind === "confext") return `etc/extension-release.d/extension-release.${output}`;
  return null;
}

function field(osRelease: string, key: string): string | undefined {
  return new RegExp(`^${key}=(.*)$`, "m").exec(osRelease)?.[1]?.replace(/^["']|["']$/g, "");
}

/** The extension-release file: the base OS it extends (ID=, VERSION_ID= or SYSEXT_LEVEL= of the
 * image's os-release), the extension's own id and version, its scope and architecture. */
export function extensionRelease(
  kind: "sysext" | "confext",
  opts: {
    osRelease: string;
    imageId: string | null;
    imageVersion: string | null;
    architecture: string;
    scope?: string;
  },
): string {
  const prefix = kind.toUpperCase();
  const lines = [`ID=${field(opts.osRelease, "ID") ?? "_any"}`];
  const level = field(opts.osRelease, `${prefix}_LEVEL`);
  const version = field(opts.osRelease, "VERSION_ID");
  if (level) lines.push(`${prefix}_LEVEL=${level}`);
  else if (version) lines.push(`VERSION_ID=${version}`);
  if (opts.imageId) lines.push(`${prefix}_ID=${opts.imageId}`);
  if (opts.imageVersion) lines.push(`${prefix}_VERSION_ID=${opts.imageVersion}`);
  lines.push(`${prefix}_SCOPE=${opts.scope ?? "initrd system portable"}`);
  lines.push(`ARCHITECTURE=${opts.architecture}`);
  return `${lines.join("\n")}\n`;
}
