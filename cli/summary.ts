// Human-readable `mkosi summary`: one block per image, grouped by section like the config files.
import type { ImageConfig, ResolvedConfig } from "../config/loader.js";
import { jsonKey, SECTIONS, SETTINGS } from "../config/settings/index.js";
import { escapeControl } from "./render/format.js";

function fmtValue(v: unknown): string[] {
  if (v === null || v === undefined) return ["none"];
  if (typeof v === "boolean") return [v ? "yes" : "no"];
  if (Array.isArray(v)) {
    if (v.length === 0) return ["none"];
    return v.flatMap((x) => {
      if (x && typeof x === "object" && "Source" in x && "Target" in x) {
        const t = x as { Source: string; Target: string | null };
        return [t.Target ? `${t.Source}:${t.Target}` : t.Source];
      }
      return fmtValue(x);
    });
  }
  if (typeof v === "object") {
    const o = v as Record<string, unknown>;
    if ("Type" in o && "Source" in o) return [o.Source ? `${o.Type}:${o.Source}` : String(o.Type)];
    const entries = Object.entries(o);
    if (entries.length === 0) return ["none"];
    return entries.map(([k, x]) => `${k}=${typeof x === "object" ? JSON.stringify(x) : String(x)}`);
  }
  return [String(v)];
}

function title(name: string): string {
  // "OutputDirectory" → "Output Directory"
  return name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2");
}

export function renderImage(img: ImageConfig, opts: { color?: boolean } = {}): string {
  const bold = (s: string) => (opts.color ? `\x1b[1m${s}\x1b[0m` : s);
  const lines: string[] = [bold(`IMAGE: ${img.Image}`), ""];
  const seen = new Set<string>();
  // Printed generically, setting by setting: looked up by JSON name.
  const values: Readonly<Record<string, unknown>> = img;
  for (const section of SECTIONS) {
    if (section === "Include") continue;
    if (section === "Runtime" && img.Image !== "main") continue;
    const settings = SETTINGS.filter((s) => s.section === section);
    const keys = settings
      .map((s) => jsonKey(s.dest))
      .filter((k) => {
        if (!(k in values) || seen.has(k)) return false;
        seen.add(k);
        return true;
      });
    // A secret whose value is the secret itself (RootPassword=) is never printed, as upstream does.
    const hidden = new Set(settings.filter((s) => s.secret && s.readText).map((s) => jsonKey(s.dest)));
    if (keys.length === 0) continue;
    lines.push(`    ${bold(`${section.toUpperCase()}:`)}`);
    const width = Math.max(...keys.map((k) => title(k).length)) + 1;
    for (const k of keys) {
      const vals = hidden.has(k)
        ? [values[k] === null ? "(default)" : "(set)"]
        : fmtValue(values[k]).map(escapeControl);
      const label = `${title(k)}:`.padStart(width + 1);
      lines.push(`    ${label} ${vals[0]}`);
      for (const more of vals.slice(1)) lines.push(`    ${" ".repeat(width + 1)} ${more}`);
    }
    lines.push("");
  }
  if (img.Files.length > 0) {
    lines.push(`    ${bold("FILES:")}`);
    for (const f of img.Files) lines.push(`        ${f}`);
    lines.push("");
  }
  return lines.join("\n");
}

export function renderSummary(config: ResolvedConfig, opts: { color?: boolean } = {}): string {
  const blocks: string[] = [];
  if (config.tools) blocks.push(renderImage(config.tools, opts));
  for (const img of config.images) blocks.push(renderImage(img, opts));
  return `${blocks.join("\n")}\n`;
}
