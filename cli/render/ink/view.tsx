// The terminal progress view. Finished nodes go to <Static> (written once, above the live area, never
// redrawn); the live area shows running and waiting nodes grouped by image, each with a spinner,
// elapsed time, progress and the last lines of its output, then a status line. At the end: failures
// and the summary.

import { Box, Static, Text } from "ink";
import type { ReactElement } from "react";
import { formatBytes, formatDuration, formatProgress, truncate } from "../format.js";
import { checkBlocks, failureBlocks, formatSummary } from "../messages.js";
import { type BuildState, isTerminal, type NodeView } from "../state.js";

export const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** A line written once above the live area: a finished node, or a message from the CLI. */
export type StaticEntry = { kind: "node"; id: string } | { kind: "note"; text: string };

type StaticItem = { key: string; node: NodeView } | { key: string; text: string };

/** An immutable picture of the state for one frame. */
export interface ViewSnapshot {
  /** Finished nodes and notes in order: append-only across frames (required by <Static>). */
  finished: StaticItem[];
  /** Running and waiting nodes by group, in planned group order, with the group's progress. */
  active: { group: string; nodes: NodeView[]; finished: number; total: number }[];
  pending: number;
  /** Pushes to the remote cache in progress. */
  pushing: number;
  counts: ReturnType<BuildState["counts"]>;
  elapsedMs: number;
  done: boolean;
  summary?: string;
  failures: string[];
}

/** `final`: the last frame even without a "done" event (interrupted): show the summary, not live nodes. */
export function snapshot(
  state: BuildState,
  now: number,
  entries?: readonly StaticEntry[],
  final = false,
): ViewSnapshot {
  const ended = final || state.done !== undefined;
  const list = entries ?? state.finished.map((id): StaticEntry => ({ kind: "node", id }));
  const finished = list.map(
    (e, i): StaticItem =>
      e.kind === "node"
        ? { key: `n:${e.id}`, node: { ...state.node(e.id) } }
        : { key: `m:${i}`, text: e.text },
  );
  const byGroup = new Map<string, NodeView[]>();
  for (const n of state.nodes.values()) {
    if (n.state !== "running" && n.state !== "waiting" && n.state !== "pulling") continue;
    const list = byGroup.get(n.group) ?? [];
    list.push({ ...n, logTail: [...n.logTail] });
    byGroup.set(n.group, list);
  }
  const totals = new Map<string, { finished: number; total: number }>();
  for (const n of state.nodes.values()) {
    const t = totals.get(n.group) ?? { finished: 0, total: 0 };
    t.total++;
    if (isTerminal(n.state)) t.finished++;
    totals.set(n.group, t);
  }
  const active = state.groups
    .filter((g) => byGroup.has(g))
    .map((g) => ({ group: g, nodes: byGroup.get(g)!.sort((a, b) => a.num - b.num), ...totals.get(g)! }));
  const counts = state.counts();
  return {
    finished,
    active,
    pending: counts.pending,
    pushing: state.pushing,
    counts,
    elapsedMs: state.elapsedMs(now),
    done: ended,
    summary: ended ? formatSummary(state, { color: true, now }) : undefined,
    // Failures, then what `--check` found.
    failures: ended ? [...failureBlocks(state, { color: true }), ...checkBlocks(state)] : [],
  };
}

function FinishedLine({ node }: { node: NodeView }): ReactElement {
  const name = (
    <Text>
      {node.group ? <Text dimColor>[{node.group}] </Text> : null}
      {node.label}
    </Text>
  );
  switch (node.state) {
    case "cached":
      return (
        <Text wrap="truncate">
          <Text color="green">◦ </Text>
          {name}
          {node.pulled ? (
            <Text color="blue">
              {" "}
              pulled {formatBytes(node.pulled.bytes)} in {formatDuration(node.pulled.durationMs)}
            </Text>
          ) : (
            <Text dimColor> cached</Text>
          )}
        </Text>
      );
    case "done": {
      const details = [formatDuration(node.durationMs ?? 0), formatBytes(node.bytes ?? 0)];
      if (node.unchangedOutput) details.push("output unchanged");
      return (
        <Text wrap="truncate">
          <Text color="green">✔ </Text>
          {name}
          <Text> {details.join(" · ")}</Text>
          {node.reason ? <Text dimColor> {node.reason}</Text> : null}
        </Text>
      );
    }
    case "failed": {
      const f = node.failure;
      const what = f?.exitCode !== undefined ? `exit status ${f.exitCode}` : (f?.message ?? "failed");
      return (
        <Text wrap="truncate">
          <Text color="red">✘ </Text>
          {name}
          <Text color="red">
            {" "}
            failed{node.durationMs !== undefined ? ` after ${formatDuration(node.durationMs)}` : ""}: {what}
          </Text>
        </Text>
      );
    }
    default:
      return (
        <Text wrap="truncate" dimColor>
          - {name} skipped (
          {node.skip?.reason === "cancelled" ? "cancelled" : `${node.skip?.cause ?? "a dependency"} failed`})
        </Text>
      );
  }
}

export interface ViewProps {
  snap: ViewSnapshot;
  now: number;
  /** Terminal size; the live area is kept below `rows` lines so ink never clears the screen. */
  columns: number;
  rows: number;
  /** Lines of output shown under each running node. */
  logLines?: number;
  /** Only the finished lines, no live area: the last frame before another process takes the terminal. */
  paused?: boolean;
}

interface LiveLine {
  key: string;
  el: ReactElement;
}

function activeLines(props: ViewProps, logLines: number): LiveLine[] {
  const { snap, now, columns } = props;
  const lines: LiveLine[] = [];
  const spin = SPINNER[Math.floor(now / 100) % SPINNER.length];
  for (const { group, nodes, finished, total } of snap.active) {
    lines.push({
      key: `g:${group}`,
      el: (
        <Text wrap="truncate">
          <Text bold>{group || "build"}</Text>
          <Text dimColor>
            {" "}
            {finished}/{total}
          </Text>
        </Text>
      ),
    });
    for (const n of nodes) {
      if (n.state === "waiting") {
        lines.push({
          key: n.id,
          el: (
            <Text wrap="truncate">
              {"  "}
              <Text color="yellow">…</Text> {n.label}{" "}
              <Text dimColor>waiting for {n.waitingOn ?? "resources"}</Text>
            </Text>
          ),
        });
        continue;
      }
      const elapsed = formatDuration(Math.max(0, now - (n.startedAt ?? now)));
      const progress = n.progress ? formatProgress(n.progress) : "";
      lines.push({
        key: n.id,
        el: (
          <Text wrap="truncate">
            {"  "}
            <Text color={n.state === "pulling" ? "blue" : "cyan"}>{spin}</Text> {n.label}{" "}
            <Text color="yellow">{elapsed}</Text>
            {progress ? <Text> {progress}</Text> : null}
            {n.reason ? <Text dimColor> {n.reason}</Text> : null}
          </Text>
        ),
      });
      const tail = logLines > 0 ? n.logTail.slice(-logLines) : [];
      for (const [i, l] of tail.entries()) {
        lines.push({
          key: `${n.id}:log:${i}`,
          el: (
            <Text wrap="truncate" dimColor>
              {"    │ "}
              {truncate(l, Math.max(10, columns - 6))}
            </Text>
          ),
        });
      }
    }
  }
  return lines;
}

function statusLine(snap: ViewSnapshot): string {
  const c = snap.counts;
  const parts = [`${c.running} running`];
  if (c.waiting > 0) parts.push(`${c.waiting} waiting`);
  if (c.pulling > 0) parts.push(`${c.pulling} pulling`);
  if (snap.pushing > 0) parts.push(`${snap.pushing} pushing`);
  parts.push(`${snap.pending} queued`, `${c.done} done`, `${c.cached} cached`);
  if (c.failed > 0) parts.push(`${c.failed} failed`);
  return `${parts.join(" · ")} · ${formatDuration(snap.elapsedMs)}`;
}

export function BuildView(props: ViewProps): ReactElement {
  const { snap } = props;
  const budget = Math.max(3, props.rows - 2);
  let live: LiveLine[] = [];
  if (!snap.done && !props.paused) {
    // Fit the live area into the terminal: fewer log lines first, then fewer nodes.
    for (let logLines = props.logLines ?? 3; logLines >= 0; logLines--) {
      live = activeLines(props, logLines);
      if (live.length < budget) break;
    }
    if (live.length >= budget) {
      const hidden = live.length - (budget - 2);
      live = [
        ...live.slice(0, budget - 2),
        { key: "more", el: <Text dimColor>{`  … and ${hidden} more lines`}</Text> },
      ];
    }
  }
  return (
    <Box flexDirection="column">
      <Static items={snap.finished}>
        {(item) =>
          "node" in item ? (
            <FinishedLine key={item.key} node={item.node} />
          ) : (
            <Text key={item.key}>{item.text}</Text>
          )
        }
      </Static>
      {live.map((l) => (
        <Box key={l.key}>{l.el}</Box>
      ))}
      {props.paused && !snap.done ? null : snap.done ? (
        <Box flexDirection="column">
          {snap.failures.length > 0 ? (
            <Box flexDirection="column" marginTop={1}>
              {snap.failures.map((l, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: static text lines
                <Text key={i} wrap="truncate">
                  {l}
                </Text>
              ))}
            </Box>
          ) : null}
          <Box marginTop={1}>
            <Text bold>{snap.summary}</Text>
          </Box>
        </Box>
      ) : (
        <Text dimColor wrap="truncate">
          {statusLine(snap)}
        </Text>
      )}
    </Box>
  );
}
