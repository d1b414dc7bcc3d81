// The systemd unit-file style syntax as mkosi reads it: sections, "#" comments anywhere on a line,
// indented continuation lines (blank/comment lines do not end them), repeated keys.
import { isUtf8 } from "node:buffer";
import { ConfigError } from "./errors.js";

export interface IniEntry {
  key: string;
  value: string;
  line: number;
}

export interface IniSection {
  name: string;
  line: number;
  entries: IniEntry[];
}

/** A config file's text. Config files are UTF-8 (upstream reads them so, and fails on anything else): a
 * file that is not is an error naming the line of the first invalid byte, never a value with U+FFFD. */
export function decodeConfigText(bytes: Buffer, path: string): string {
  if (isUtf8(bytes)) return bytes.toString("utf8");
  let start = 0;
  for (let line = 1; ; line++) {
    const end = bytes.indexOf(0x0a, start);
    const text = bytes.subarray(start, end < 0 ? bytes.length : end);
    if (!isUtf8(text))
      throw new ConfigError("this line is not valid UTF-8 (config files must be UTF-8)", {
        where: `${path}:${line}`,
      });
    if (end < 0) break;
    start = end + 1;
  }
  return bytes.toString("utf8");
}

/** Python's textwrap.dedent(): remove the common leading whitespace of all non-blank lines. */
export function dedent(text: string): string {
  const lines = text.split("\n");
  let margin: string | null = null;
  for (const l of lines) {
    if (l.trim() === "") continue;
    const ws = /^[ \t]*/.exec(l)?.[0] ?? "";
    if (margin === null) margin = ws;
    else {
      let i = 0;
      while (i < margin.length && i < ws.length && margin[i] === ws[i]) i++;
      margin = margin.slice(0, i);
    }
    if (margin === "") break;
  }
  return lines.map((l) => (l.trim() === "" ? "" : margin ? l.slice(margin.length) : l)).join("\n");
}

/** Parses a file; lines in sections not listed in `only` (when given) are skipped unchecked. */
export function parseIni(text: string, path: string, only?: ReadonlySet<string>): IniSection[] {
  const sections: IniSection[] = [];
  let section: IniSection | null = null;
  let pending: IniEntry | null = null;
  const lines = dedent(text).split(/\r?\n/);
  const flush = () => {
    if (pending && section) section.entries.push(pending);
    pending = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const where = `${path}:${lineNo}`;
    let line = lines[i] as string;
    const hash = line.indexOf("#");
    if (hash >= 0) line = line.slice(0, hash);
    if (line.trim() === "") continue;
    if (pending && /^\s/.test(line)) {
      (pending as IniEntry).value += `\n${line.trim()}`;
      continue;
    }
    flush();
    line = line.trim();
    if (line.startsWith("[")) {
      if (!line.endsWith("]")) throw new ConfigError(`${line} is not a valid section`, { where });
      const name = line.slice(1, -1).trim();
      if (!name) throw new ConfigError("Section name cannot be empty or whitespace", { where });
      section = { name, line: lineNo, entries: [] };
      sections.push(section);
      continue;
    }
    if (section && only && !only.has(section.name)) continue;
    if (!section) throw new ConfigError(`Setting ${line} is located outside of section`, { where });
    const eq = line.indexOf("=");
    if (eq < 0) throw new ConfigError(`Setting ${line} must be followed by '='`, { where });
    const key = line.slice(0, eq).trim();
    if (!key) throw new ConfigError(`Missing setting name before '=' in ${line}`, { where });
    pending = { key, value: line.slice(eq + 1).trim(), line: lineNo };
  }
  flush();
  return sections;
}
