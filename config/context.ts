// One image's parse state: the three namespaces (cli, config, defaults), value finalization with
// memoized defaults, specifier expansion and [Match] evaluation.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { DISTRO_INFO, nativeArchitecture } from "./enums.js";
import { ConfigError, type Warn } from "./errors.js";
import type { IniSection } from "./ini.js";
import { resolvePath } from "./paths.js";
import { parseArchitecture } from "./settings/distribution-output.js";
import { SETTINGS, SETTINGS_BY_NAME, SETTINGS_BY_SPECIFIER } from "./settings/index.js";
import type { DefaultCtx, Setting } from "./settings/types.js";
import { type ParseEnv, versionMatches } from "./values.js";

export type ContextKind = "main" | "subimage" | "tools";

function clone<T>(v: T): T {
  return v === null || typeof v !== "object" ? v : (structuredClone(v) as T);
}

let systemdVersionCache: string | null | undefined;
function hostSystemdVersion(): string | null {
  if (systemdVersionCache !== undefined) return systemdVersionCache;
  const r = spawnSync("systemctl", ["--version"], { encoding: "utf8" });
  if (r.status !== 0 || !r.stdout) {
    systemdVersionCache = null;
    return null;
  }
  // "systemd 252 (252.36-1~deb12u1)": the reference compares the second word.
  const v = r.stdout.trim().split(/\s+/)[1] ?? null;
  systemdVersionCache = v;
  return v;
}

export class ParseContext {
  /** The command-line namespace (what the CLI, local configuration and the main image impose). */
  readonly cli: Map<string, unknown>;
  /** Settings emptied on the command line: their CLI value replaces config values instead of
   * being merged with them. */
  readonly cliWasNone: Set<string>;
  readonly config = new Map<string, unknown>();
  readonly defaults = new Map<string, unknown>();
  readonly files: string[] = [];
  /** dev:ino of every included path (each path is parsed only once per image). */
  readonly includesSeen = new Set<string>();
  /** Whether parsed files are recorded in Files (not for CLI includes). */
  recordFiles = true;
  cwd: string;
  private finalizing = new Set<string>();

  constructor(
    readonly image: string,
    readonly kind: ContextKind,
    readonly directory: string | null,
    readonly env: Record<string, string | undefined>,
    readonly warn: Warn,
    cwd: string,
    /** Subimages share one CLI namespace, as in the reference: what one subimage's local
     * configuration moves there stays for the subimages parsed after it. */
    shared?: { cli: Map<string, unknown>; cliWasNone: Set<string> },
  ) {
    this.cwd = cwd;
    this.cli = shared?.cli ?? new Map();
    this.cliWasNone = shared?.cliWasNone ?? new Set();
  }

  parseEnv(cwd = this.cwd): ParseEnv {
    return { cwd, env: this.env, warn: this.warn, parseUkiProfile: this.parseUkiProfile };
  }

  parseUkiProfile?: ParseEnv["parseUkiProfile"];

  /** Whether the setting may not be set in this image (main-only, universal in subimages, …). */
  prohibited(s: Setting): string | null {
    if (this.kind === "tools") {
      return s.tools ? null : `Setting ${s.name} cannot be configured in tools image`;
    }
    if (this.kind === "subimage") {
      if (s.scope === "universal" || s.scope === "multiversal" || s.scope === "main" || s.scope === "tools")
        return `Setting ${s.name} cannot be configured in ${this.image} image (${s.scope} settings can only be configured in the main image)`;
    }
    return null;
  }

  private defaultCtx(): DefaultCtx {
    return {
      get: (dest) => this.finalizeDest(dest),
      image: this.image,
      directory: this.directory,
      env: this.env,
    };
  }

  finalizeDest(dest: string): unknown {
    const s = settingByDest(dest);
    return this.finalize(s);
  }

  /**
   * The current value of a setting, as the reference computes it: a CLI value (merged after the
   * config's for collections, unless the CLI emptied it); else, when the CLI namespace does not
   * have the setting at all, the config value; else the default. An explicitly emptied collection
   * or optional setting is empty rather than defaulted. Defaults are memoized (including that empty
   * value), so a later change of what they derive from does not change them.
   */
  finalize(s: Setting): unknown {
    const dest = s.dest;
    const cliHas = this.cli.has(dest);
    const cv = this.cli.get(dest);
    const cfv = this.config.get(dest);
    if (cliHas && cv !== null && cv !== undefined) {
      if (cfv === null || cfv === undefined || this.cliWasNone.has(dest)) return cv;
      if (s.kind === "list") return [...(cfv as unknown[]), ...(cv as unknown[])];
      if (s.kind === "dict") return { ...(cfv as object), ...(cv as object) };
      return cv;
    }
    if (!cliHas && cfv !== null && cfv !== undefined) return cfv;
    let v: unknown;
    if ((cliHas || this.config.has(dest)) && s.kind !== "value") v = s.parse(null, null, this.parseEnv());
    else if (this.defaults.has(dest)) v = this.defaults.get(dest);
    else {
      if (this.finalizing.has(dest)) throw new ConfigError(`Default of ${s.name}= depends on itself`);
      this.finalizing.add(dest);
      try {
        if (s.defaultFactory) v = s.defaultFactory(this.defaultCtx());
        else if (s.default !== undefined) v = clone(s.default);
        else v = s.parse(null, null, this.parseEnv());
      } finally {
        this.finalizing.delete(dest);
      }
    }
    this.defaults.set(dest, v);
    return v;
  }

  /**
   * Moves every value of the config namespace to the CLI namespace as its current value (what the
   * reference does after parsing local configuration: it beats every later file, not the CLI).
   */
  moveConfigToCli(): void {
    for (const s of SETTINGS) {
      if (!this.config.has(s.dest)) continue;
      this.cli.set(s.dest, this.finalize(s));
      this.config.delete(s.dest);
    }
  }

  /** Expands %x specifiers in a config-file value. */
  expandSpecifiers(text: string, file: string): string {
    if (!text.includes("%")) return text;
    let out = "";
    let i = 0;
    while (i < text.length) {
      const c = text[i] as string;
      if (c !== "%") {
        out += c;
        i++;
        continue;
      }
      if (i + 1 >= text.length) {
        out += "%";
        break;
      }
      const n = text[i + 1] as string;
      i += 2;
      if (n === "%") out += "%";
      else if (n === "C") out += dirname(resolvePath(file, this.cwd));
      else if (n === "P") out += this.cwd;
      else if (n === "D") out += this.directory ?? "";
      else if (n === "I") out += this.image;
      else if (n === "F") {
        const d = this.finalizeDest("distribution") as string | null;
        if (d === null || d === undefined)
          this.warn(
            `${file}: Setting Distribution which specifier '%F' in ${text} depends on is not yet set, ignoring`,
          );
        else out += DISTRO_INFO[d]?.filesystem ?? "ext4";
      } else {
        const s = SETTINGS_BY_SPECIFIER.get(n);
        if (!s) {
          this.warn(`${file}: Unknown specifier '%${n}' found in ${text}, ignoring`);
          continue;
        }
        const v = this.finalize(s);
        if (v === null || v === undefined) {
          this.warn(
            `${file}: Setting ${s.name} specified by specifier '%${n}' in ${text} is not yet set, ignoring`,
          );
          continue;
        }
        out += String(v);
      }
    }
    return out;
  }

  /** Evaluates the [Match]/[TriggerMatch] sections of a parsed file. */
  matches(sections: IniSection[], file: string): boolean {
    let triggerSections = 0;
    let triggered = false;
    for (const sec of sections) {
      if (sec.name === "Match") {
        if (!this.matchSection(sec, file)) return false;
      } else if (sec.name === "TriggerMatch") {
        triggerSections++;
        if (this.matchSection(sec, file)) triggered = true;
      }
    }
    return triggerSections === 0 || triggered;
  }

  private matchSection(sec: IniSection, file: string): boolean {
    let hasTrigger = false;
    let triggered = false;
    for (const e of sec.entries) {
      let v = e.value;
      const trigger = v.startsWith("|");
      if (trigger) v = v.slice(1);
      const negate = v.startsWith("!");
      if (negate) v = v.slice(1);
      let r: boolean;
      try {
        v = this.expandSpecifiers(v, file);
        r = this.matchCondition(e.key, v, sec.name, file);
      } catch (err) {
        if (err instanceof ConfigError && !err.where) {
          err.where = `${file}:${e.line}`;
          err.setting ??= e.key;
        }
        throw err;
      }
      if (negate) r = !r;
      if (trigger) {
        hasTrigger = true;
        if (r) triggered = true;
      } else if (!r) return false;
    }
    return !hasTrigger || triggered;
  }

  private matchCondition(key: string, value: string, section: string, file: string): boolean {
    const s = SETTINGS_BY_NAME.get(key);
    if (s) {
      if (!s.match) throw new ConfigError(`${key} cannot be used in [${section}]`, { setting: key });
      if (s.scope === "main" && this.kind !== "main")
        throw new ConfigError(`${key} cannot be matched on outside of the main image`, { setting: key });
      if (key !== s.name) this.warn(`${file}: Setting ${key} is deprecated, please use ${s.name} instead.`);
      const actual = this.finalize(s);
      if (actual === null || actual === undefined) return false;
      return s.match(actual, value, { ...this.parseEnv(), image: this.image });
    }
    switch (key) {
      case "PathExists":
        return value !== "" && existsSync(resolve(this.cwd, value));
      case "SystemdVersion": {
        const v = value === "" ? null : hostSystemdVersion();
        return v !== null && versionMatches(v, value);
      }
      case "HostArchitecture":
        return parseArchitecture(value, null, this.parseEnv()) === nativeArchitecture();
      case "Image":
        return this.image === value;
    }
    throw new ConfigError(`${key} cannot be used in [${section}]`, { setting: key });
  }
}

import { SETTINGS_BY_DEST } from "./settings/index.js";

export function settingByDest(dest: string): Setting {
  const s = SETTINGS_BY_DEST.get(dest);
  if (!s) throw new Error(`unknown setting dest ${dest}`);
  return s;
}
