// The ink renderer: folds events into a BuildState as they come (cheap) and redraws on a timer at most
// `fps` times a second, so a flood of log lines costs one frame, not one frame per line. Loaded only
// through the dynamic import in ../index.ts.
//
// suspend() (a debug shell takes the terminal) draws a last frame without the live area and unmounts
// ink, which leaves the cursor below what was written; resume() mounts a new ink instance whose
// <Static> starts after the lines the first one wrote.

import { type Instance, render, renderToString } from "ink";
import type { EngineEvent } from "../../../engine/api.js";
import { formatBytes, formatDuration } from "../format.js";
import { BuildState } from "../state.js";
import type { OutputStream, Renderer } from "../types.js";
import { BuildView, type StaticEntry, snapshot } from "./view.js";

export interface InkRendererOptions {
  /** Frames per second at most. Default 10. */
  fps?: number;
  /** Lines of output shown under each running node. Default 3. */
  logLines?: number;
  /** Clock in event time, for tests. Default: the last event's time plus the wall time since it came,
   * so elapsed times are right whatever clock the engine stamps events with. */
  now?: () => number;
}

export class InkRenderer implements Renderer {
  readonly state: BuildState;
  /** Mounted on the first event or note, so whatever the CLI prints before the build starts (e.g.
   * --explain) is not overdrawn by an empty frame. */
  private instance?: Instance;
  private timer?: NodeJS.Timeout;
  private renderedVersion = -1;
  private closed?: Promise<void>;
  private readonly now: () => number;
  private receivedAt = Date.now();
  private readonly entries: StaticEntry[] = [];
  private seenFinished = 0;
  private final = false;
  private suspended = false;
  /** Static entries written by instances unmounted on suspend(). */
  private staticBase = 0;
  private mountedOnce = false;
  private readonly fps: number;
  /** Frames drawn (for tests and for measuring). */
  frames = 0;

  constructor(
    private readonly stream: OutputStream,
    private readonly options: InkRendererOptions = {},
  ) {
    this.now = options.now ?? (() => (this.state.lastTime ?? Date.now()) + (Date.now() - this.receivedAt));
    this.state = new BuildState({ logTailLines: Math.max(options.logLines ?? 3, 1) });
    this.fps = Math.min(30, Math.max(1, options.fps ?? 10));
  }

  private mount(): Instance | undefined {
    if (this.suspended) return undefined;
    if (!this.instance) {
      this.mountedOnce = true;
      this.frames++;
      this.renderedVersion = this.state.version;
      this.instance = render(this.element(), {
        stdout: this.stream as NodeJS.WriteStream,
        exitOnCtrlC: false,
        patchConsole: false,
        maxFps: this.fps,
      });
      this.timer = setInterval(() => this.tick(), Math.ceil(1000 / this.fps));
      this.timer.unref();
    }
    return this.instance;
  }

  private element(paused = false) {
    return (
      <BuildView
        snap={snapshot(this.state, this.now(), this.entries.slice(this.staticBase), this.final)}
        now={this.now()}
        columns={this.stream.columns ?? 80}
        rows={this.stream.rows ?? 24}
        logLines={this.options.logLines ?? 3}
        paused={paused}
      />
    );
  }

  private redraw(): void {
    const instance = this.mount();
    if (!instance) return;
    this.renderedVersion = this.state.version;
    this.frames++;
    instance.rerender(this.element());
  }

  private tick(): void {
    if (this.closed || this.suspended) return;
    // Redraw when something changed, or to move spinners and elapsed times of running nodes.
    const c = this.state.counts();
    if (this.state.version !== this.renderedVersion || c.running > 0 || c.waiting > 0 || c.pulling > 0)
      this.redraw();
  }

  onEvent(event: EngineEvent): void {
    if (this.closed) return;
    this.receivedAt = Date.now();
    const n = this.state.apply(event);
    while (this.seenFinished < this.state.finished.length) {
      this.entries.push({ kind: "node", id: this.state.finished[this.seenFinished++]! });
    }
    if (event.type === "warning") this.entries.push({ kind: "note", text: `warning: ${event.message}` });
    if (event.type === "pushed" && n) {
      const what = `${formatBytes(event.bytes)} in ${formatDuration(event.durationMs)}`;
      this.entries.push({ kind: "note", text: `↑ ${this.state.name(n.id)} pushed ${what}` });
    }
    this.mount();
    if (event.type === "done") this.redraw();
  }

  note(text: string): void {
    if (this.closed) return;
    for (const line of text.split("\n")) this.entries.push({ kind: "note", text: line });
    this.state.version++;
    this.mount();
  }

  async suspend(): Promise<void> {
    if (this.closed || this.suspended) return;
    this.suspended = true;
    clearInterval(this.timer);
    this.timer = undefined;
    const instance = this.instance;
    if (!instance) return;
    this.instance = undefined;
    this.frames++;
    // Entries that arrive while ink unmounts are written by the next instance.
    const written = this.entries.length;
    instance.rerender(this.element(true));
    instance.unmount();
    this.staticBase = written;
    await instance.waitUntilExit();
  }

  resume(): void {
    if (!this.suspended) return;
    this.suspended = false;
    if (!this.closed && this.mountedOnce) this.redraw();
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      clearInterval(this.timer);
      this.suspended = false;
      if (!this.mountedOnce) return; // nothing was ever shown
      const instance = this.mount()!;
      clearInterval(this.timer);
      this.final = true;
      this.renderedVersion = -1;
      this.frames++;
      instance.rerender(this.element());
      instance.unmount();
      await instance.waitUntilExit();
    })();
    return this.closed;
  }
}

/** One frame of the view as a string (tests, snapshots of the layout). */
export function renderFrame(
  state: BuildState,
  options: { now: number; columns?: number; rows?: number; logLines?: number },
): string {
  return renderToString(
    <BuildView
      snap={snapshot(state, options.now)}
      now={options.now}
      columns={options.columns ?? 100}
      rows={options.rows ?? 40}
      logLines={options.logLines ?? 3}
    />,
    { columns: options.columns ?? 100 },
  );
}
