// The terminal during a build: normally the progress renderer's; a debug shell (--debug-shell) borrows it.
// While a shell runs the renderer is suspended (its live area cleared, output held back), Ctrl-C belongs
// to the shell rather than cancelling the build, and shells of nodes that fail in parallel take turns.
import type { TerminalHandoff } from "../../sandbox/run.js";
import type { Renderer } from "../render/types.js";

export interface BuildTerminal {
  handoff: TerminalHandoff;
  /** Whether something borrowed the terminal right now. */
  busy(): boolean;
}

export function buildTerminal(
  renderer: Renderer,
  stream: NodeJS.WritableStream = process.stderr,
): BuildTerminal {
  let queue: Promise<unknown> = Promise.resolve();
  let busy = false;
  const handoff: TerminalHandoff = <T>(title: string, fn: () => Promise<T>): Promise<T> => {
    const turn = queue.then(async () => {
      busy = true;
      try {
        await renderer.suspend?.();
        stream.write(`‣ ${title}\n`);
        return await fn();
      } finally {
        busy = false;
        renderer.resume?.();
      }
    });
    queue = turn.catch(() => undefined);
    return turn;
  };
  return { handoff, busy: () => busy };
}
