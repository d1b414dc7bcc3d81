// `mkosi completion [bash|zsh|fish]`: generated from the settings table.
import { VERBS } from "../../config/enums.js";
import { SETTINGS } from "../../config/settings/index.js";
import type { VerbContext } from "./index.js";

const GLOBAL = [
  "--force",
  "--directory",
  "--debug",
  "--debug-shell",
  "--debug-workspace",
  "--debug-sandbox",
  "--no-pager",
  "--genkey-valid-days",
  "--genkey-common-name",
  "--auto-bump",
  "--doc-format",
  "--json",
  "--wipe-build-dir",
  "--rerun-build-scripts",
  "--help",
  "--version",
];

function options(): { name: string; choices?: readonly string[] }[] {
  const out: { name: string; choices?: readonly string[] }[] = GLOBAL.map((name) => ({ name }));
  for (const s of SETTINGS) for (const l of s.long) out.push({ name: `--${l}`, choices: s.choices });
  return out;
}

export function bashCompletion(): string {
  const opts = options();
  const cases = opts
    .filter((o) => o.choices)
    .map((o) => `        ${o.name}) COMPREPLY=($(compgen -W "${o.choices?.join(" ")}" -- "$cur")); return;;`)
    .join("\n");
  return `# bash completion for mkosi (generated)
_mkosi() {
    local cur prev
    cur="\${COMP_WORDS[COMP_CWORD]}"
    prev="\${COMP_WORDS[COMP_CWORD-1]}"
    case "$prev" in
${cases}
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "${opts.map((o) => o.name).join(" ")}" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "${VERBS.join(" ")}" -- "$cur"))
    fi
}
complete -o default -F _mkosi mkosi
`;
}

export function zshCompletion(): string {
  const lines = options().map(
    (o) => `    '${o.name}[]${o.choices ? `:value:(${o.choices.join(" ")})` : ""}'`,
  );
  return `#compdef mkosi
_arguments -s \\
${lines.join(" \\\n")} \\
    '1:verb:(${VERBS.join(" ")})' \\
    '*::args:_files'
`;
}

export function fishCompletion(): string {
  const out = [`complete -c mkosi -n '__fish_use_subcommand' -f -a '${VERBS.join(" ")}'`];
  for (const o of options()) {
    const c = o.choices ? ` -x -a '${o.choices.join(" ")}'` : "";
    out.push(`complete -c mkosi -l ${o.name.slice(2)}${c}`);
  }
  return `${out.join("\n")}\n`;
}

export async function handler({ args }: VerbContext): Promise<number> {
  const shell = args.cmdline[0] ?? "bash";
  const gen = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion }[shell];
  if (!gen) {
    process.stderr.write(`mkosi: completion for shell '${shell}' is not supported (bash, zsh, fish)\n`);
    return 1;
  }
  process.stdout.write(gen());
  return 0;
}
