// `mkosi serve`: the output directory over HTTP on port 8081, with HEAD and byte ranges so that
// `machinectl pull-raw`, `importctl` and `curl -r` can fetch images from it. Node's http module; files are
// streamed, never read whole. With StorageTargetMode= a disk image is also exported over NVMe-TCP with
// systemd-storagetm.
import { type ChildProcess, spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join, normalize, sep } from "node:path";
import { RuntimeError } from "./host.js";
import type { Machine } from "./machine.js";
import { findTool } from "./tools.js";

export const SERVE_PORT = 8081;

/** Parses a single-range `Range: bytes=…` header against a file of `size` bytes. null: unsatisfiable;
 * undefined: no (usable) range, serve the whole file. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined; // several ranges or another unit: the whole file is a valid answer
  const [, first, last] = match;
  if (first === "" && last === "") return undefined;
  let start: number;
  let end: number;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0) return null;
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(first);
    end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  }
  if (start >= size || start > end) return null;
  return { start, end };
}

async function answer(root: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.writeHead(405, { Allow: "GET, HEAD" }).end();
    return;
  }
  let path: string;
  try {
    path = decodeURIComponent(new URL(request.url ?? "/", "http://localhost").pathname);
  } catch {
    response.writeHead(400).end();
    return;
  }
  const file = normalize(join(root, path));
  if (file !== root && !file.startsWith(root + sep)) {
    response.writeHead(403).end();
    return;
  }
  const st = await stat(file).catch(() => undefined);
  if (!st?.isFile()) {
    response
      .writeHead(404, { "Content-Type": "text/plain" })
      .end(request.method === "HEAD" ? undefined : "Not found\n");
    return;
  }
  const headers: Record<string, string | number> = {
    "Accept-Ranges": "bytes",
    "Content-Type": "application/octet-stream",
    "Last-Modified": st.mtime.toUTCString(),
  };
  const range = parseRange(request.headers.range, st.size);
  if (range === null) {
    response.writeHead(416, { ...headers, "Content-Range": `bytes */${st.size}` }).end();
    return;
  }
  const { start, end } = range ?? { start: 0, end: st.size - 1 };
  const length = st.size === 0 ? 0 : end - start + 1;
  if (range) headers["Content-Range"] = `bytes ${start}-${end}/${st.size}`;
  headers["Content-Length"] = length;
  response.writeHead(range ? 206 : 200, headers);
  if (request.method === "HEAD" || length === 0) {
    response.end();
    return;
  }
  const stream = createReadStream(file, { start, end });
  stream.on("error", () => response.destroy());
  stream.pipe(response);
}

/** An HTTP server for `root` (not yet listening). */
export function fileServer(root: string): Server {
  const base = normalize(root).replace(/\/$/, "");
  return createServer((request, response) => {
    answer(base, request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
}

function storageTarget(machine: Machine): ChildProcess | undefined {
  const mode = machine.runtime.StorageTargetMode;
  if (mode === "disabled") return undefined;
  const tool = findTool("systemd-storagetm");
  const usable = machine.image.Format === "disk" && tool !== null && process.getuid?.() === 0;
  if (!usable) {
    if (mode === "enabled")
      throw new RuntimeError(
        machine.image.Format !== "disk"
          ? `StorageTargetMode=yes needs a disk image, but Format=${machine.image.Format}`
          : tool === null
            ? "StorageTargetMode=yes, but systemd-storagetm is not installed (systemd v255 or newer, e.g. from a tools tree)"
            : "StorageTargetMode=yes needs root",
      );
    return undefined;
  }
  return spawn(tool as string, [machine.output], { stdio: "inherit" });
}

/** Serves until SIGINT or SIGTERM; resolves with the exit status. */
export async function serve(machine: Machine, port = SERVE_PORT): Promise<number> {
  const server = fileServer(machine.outputDir);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new RuntimeError(`Port ${port} is already in use: cannot serve ${machine.outputDir}`)
          : error,
      ),
    );
    server.listen(port, resolve);
  });
  const storagetm = storageTarget(machine);
  process.stderr.write(`‣ Serving ${machine.outputDir} on http://localhost:${port}/ (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  storagetm?.kill("SIGTERM");
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return 0;
}
