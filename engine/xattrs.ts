// Extended attributes of many paths at once, through batched getfattr runs, as the sorted "name=0xhex"
// lines a fingerprint entry hashes; overlayfs bookkeeping is left out.

import { spawn } from "node:child_process";
import { encodeName, hasEscapes } from "./filenames.js";

export const GETFATTR_BATCH = 400;

function unescapeGetfattr(s: string): string {
  // getfattr writes names as bytes, escaping some as \ooo; work in latin1 (one char per byte).
  const bytes = s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  return Buffer.from(bytes, "latin1").toString("utf8");
}

let getfattrMissing = false;

/** All xattrs of the given paths (not following symlinks), as "name=0xhex" lines sorted, keyed by path.
 * Paths without xattrs are absent from the result. */
function getfattr(batch: string[]): Promise<Buffer | undefined> {
  return new Promise((res, rej) => {
    const child = spawn(
      "getfattr",
      ["--absolute-names", "-h", "-d", "-m", "-", "-e", "hex", "--", ...batch],
      {
        env: { ...process.env, LC_ALL: "C" },
        stdio: ["ignore", "pipe", "ignore"],
      },
    );
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.on("error", (e) => {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        getfattrMissing = true;
        res(undefined);
      } else rej(e);
    });
    // Exit status 1 only means some path vanished or has no xattr support: what was printed is valid.
    child.on("close", () => res(Buffer.concat(chunks)));
  });
}

/** The xattrs of one path that carries escaped bytes: argv cannot carry them from Node, so the shell
 * makes the name from octal escapes. */
function getfattrEscaped(path: string): Promise<Buffer | undefined> {
  const octal = [...encodeName(path)]
    .map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\0${b.toString(8)}`))
    .join("");
  return new Promise((res) => {
    const child = spawn(
      "sh",
      [
        "-c",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template
        'p=$(printf "%b_" "$1"); exec getfattr --absolute-names -h -d -m - -e hex -- "${p%_}"',
        "sh",
        octal,
      ],
      { env: { ...process.env, LC_ALL: "C" }, stdio: ["ignore", "pipe", "ignore"] },
    );
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.on("error", () => res(undefined));
    child.on("close", () => res(Buffer.concat(chunks)));
  });
}

export async function readXattrs(paths: string[]): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  if (getfattrMissing) return result;
  const escaped = paths.filter(hasEscapes);
  if (escaped.length > 0) {
    paths = paths.filter((p) => !hasEscapes(p));
    for (const path of escaped) {
      const out = (await getfattrEscaped(path))?.toString("latin1") ?? "";
      const lines = out.split("\n").filter((line) => line !== "" && !line.startsWith("# file: "));
      if (lines.length > 0) result.set(path, lines.map(unescapeGetfattr).sort().join("\n"));
    }
  }
  const batches: string[][] = [];
  for (let i = 0; i < paths.length; i += GETFATTR_BATCH) batches.push(paths.slice(i, i + GETFATTR_BATCH));
  const outputs: (Buffer | undefined)[] = [];
  let next = 0;
  const lane = async () => {
    while (next < batches.length) {
      const i = next++;
      outputs[i] = await getfattr(batches[i]!);
    }
  };
  await Promise.all([lane(), lane(), lane()]);
  for (const buf of outputs) {
    if (!buf) continue;
    const out = buf.toString("latin1");
    let current: string | undefined;
    let lines: string[] = [];
    const flush = () => {
      if (current !== undefined && lines.length > 0) result.set(current, lines.sort().join("\n"));
      lines = [];
    };
    for (const line of out.split("\n")) {
      if (line.startsWith("# file: ")) {
        flush();
        current = unescapeGetfattr(line.slice(8));
      } else if (line !== "" && current !== undefined) {
        const entry = unescapeGetfattr(line);
        if (!OVERLAY_BOOKKEEPING.test(entry)) lines.push(entry);
      }
    }
    flush();
  }
  return result;
}

/** Overlayfs bookkeeping that is not content: the upper directory's uuid, and the markers of copied-up
 * entries that point at the inodes they were copied from (they differ for equal content on another
 * machine, or on another copy of the same lower layer). Whiteouts, opaque directories and the other
 * overlay attributes keep their meaning and are fingerprinted. */
const OVERLAY_BOOKKEEPING = /^(?:trusted|user)\.overlay\.(?:uuid|impure|origin|nlink|upper)=/;
