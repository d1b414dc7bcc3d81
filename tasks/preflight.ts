// Checks of a resolved configuration before a build does any work, for the values upstream accepts when
// parsing but that would fail (or do harm) later: a host name systemd would reject (a 1 MB one fails as
// `spawn E2BIG`), an ImageId=/ImageVersion= that makes the default Output= a path (ImageId=../../evil),
// a tree source that does not exist (ExtraTrees= and BaseTrees= are not required to when parsed). Each
// error names the setting, and the file and line that set it (found in the image's config files).
import { existsSync, readFileSync } from "node:fs";
import { type BootConfig, wantsBoot } from "../formats/boot.js";
import { splitArtifacts } from "./outputs.js";

/** What the checks read of a resolved image config (config/loader.ts ImageConfig). */
export interface PreflightImage {
  Image: string;
  /** The config files parsed for the image, in order. */
  Files?: string[];
  [setting: string]: unknown;
}

/** Where `setting` was last assigned in `files` ("file:line"), if in one of them. */
export function whereAssigned(files: readonly string[], setting: string): string | undefined {
  const assignment = new RegExp(`^\\s*${setting}\\s*=`);
  let where: string | undefined;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    text.split("\n").forEach((line, i) => {
      if (assignment.test(line)) where = `${file}:${i + 1}`;
    });
  }
  return where;
}

/** A value for an error message: control characters escaped, at most `max` characters shown. */
export function shownValue(value: string, max = 64): string {
  const escaped = value.replace(
    /[\u0000-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
  return escaped.length <= max ? escaped : `${escaped.slice(0, max)}… (${value.length} characters)`;
}

/** systemd's hostname_is_valid() (with a trailing dot allowed, as systemd-firstboot does): labels of
 * letters, digits and inner hyphens, separated by single dots, at most 64 characters. */
export function isValidHostname(name: string): boolean {
  if (name.length === 0 || name.length > 64) return false;
  let dot = true;
  let hyphen = true;
  let dots = 0;
  for (const c of name) {
    if (c === ".") {
      if (dot || hyphen) return false;
      dot = true;
      hyphen = false;
      dots++;
    } else if (c === "-") {
      if (dot) return false;
      dot = false;
      hyphen = true;
    } else if (/^[A-Za-z0-9]$/.test(c)) {
      dot = false;
      hyphen = false;
    } else return false;
  }
  if (dot && dots < 2) return false;
  return !hyphen;
}

function problem(image: PreflightImage, setting: string, message: string): string {
  const where = whereAssigned(image.Files ?? [], setting);
  return `${where ? `${where}: ` : ""}${setting}=${message}`;
}

function treeSources(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((tree) =>
    tree && typeof tree === "object" && typeof (tree as { Source?: unknown }).Source === "string"
      ? [(tree as { Source: string }).Source]
      : [],
  );
}

/** What is wrong with one image's configuration (empty when nothing is). `produced`: whether a tree source
 * is an output of another image of the build, published before this image reads it (tasks/crossimage.ts),
 * so it need not exist yet. */
export function preflightImage(
  image: PreflightImage,
  produced: (path: string) => boolean = () => false,
): string[] {
  const problems: string[] = [];
  const hostname = image.Hostname;
  if (typeof hostname === "string" && !isValidHostname(hostname))
    problems.push(
      problem(
        image,
        "Hostname",
        `${shownValue(hostname)}: not a valid host name (at most 64 characters: letters, digits, ` +
          "'-' inside and '.' between labels)",
      ),
    );
  // Output= is checked when parsed; its default, <ImageId>[_<ImageVersion>], is not: blame what made it a
  // path.
  const output = image.Output;
  if (typeof output === "string" && (output.includes("/") || output === "." || output === "..")) {
    const culprit =
      ["ImageId", "ImageVersion"].find((setting) => {
        const value = image[setting];
        return typeof value === "string" && (value.includes("/") || value === "." || value === "..");
      }) ?? "Output";
    problems.push(
      problem(
        image,
        culprit,
        `${shownValue(String(image[culprit]))}: the output is named after it and must be a file name, not ` +
          "a path (set Output= to name it otherwise)",
      ),
    );
  }
  const boots = wantsBoot(image as unknown as BootConfig);
  // SplitArtifacts=pcrs: digests to be signed offline carry the signing key's public half; upstream fails
  // with an assertion without it.
  const signsPcrs = image.SignExpectedPcr !== "disabled" && !!image.SignExpectedPcrKey;
  if (boots && splitArtifacts(image).includes("pcrs") && !signsPcrs && !image.SignExpectedPcrCertificate)
    problems.push(
      problem(
        image,
        "SplitArtifacts",
        "pcrs needs SignExpectedPcrCertificate= (the certificate of the key that signs the PCR policy digests offline)",
      ),
    );
  for (const setting of ["ExtraTrees", "BaseTrees"]) {
    for (const source of treeSources(image[setting])) {
      if (!existsSync(source) && !produced(source))
        problems.push(problem(image, setting, `${shownValue(source, 200)}: does not exist`));
    }
  }
  return problems;
}

/** The problems of every image, each line naming setting, file and line; undefined when there are none.
 * `produced(index, path)`: see preflightImage (images in build order). */
export function preflight(
  images: readonly PreflightImage[],
  produced: (index: number, path: string) => boolean = () => false,
): string | undefined {
  const problems = images.flatMap((image, index) => preflightImage(image, (path) => produced(index, path)));
  return problems.length > 0 ? problems.join("\n") : undefined;
}
