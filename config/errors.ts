/** A configuration error: bad syntax, bad value, failed check. `where` is "file:line" when known. */
export class ConfigError extends Error {
  where: string | undefined;
  setting: string | undefined;
  /** Process exit code to use (a failing script's own status, 2 for command-line usage errors). */
  exitCode = 1;
  constructor(message: string, opts: { where?: string; setting?: string } = {}) {
    super(message);
    this.name = "ConfigError";
    this.where = opts.where;
    this.setting = opts.setting;
  }

  /** Human-readable form: "file:line: Setting=: message". */
  describe(): string {
    const parts: string[] = [];
    if (this.where) parts.push(this.where);
    if (this.setting && !this.message.includes(this.setting)) parts.push(`${this.setting}=`);
    parts.push(this.message);
    return parts.join(": ");
  }
}

export type Warn = (message: string) => void;
