#!/usr/bin/env node
// The CLI entry point, started by bin/mkosi (a shell wrapper that gives it a mount namespace of its own).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const entry = join(root, "dist", "cli", "main.js");
if (!existsSync(entry)) {
  process.stderr.write(`mkosi: ${entry} is missing; run "npm ci" or "npm run build" in ${root} first\n`);
  process.exit(1);
}
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));
