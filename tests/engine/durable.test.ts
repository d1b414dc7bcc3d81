// Power-loss ordering of a commit, observed in the system calls of a real run (strace): the artifact's files
// are flushed (syncfs) before the rename that puts it in place, the rename is made durable (fsync of the
// artifacts directory), and only then is the record committed to LMDB with a flush. A record can then
// never outlive its files.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, compileWorker, tempDir } from "./helpers.js";

// strace comes from .ci/install-host-packages.
describe("durable commits", () => {
  let dir: string;
  let worker: string;
  let workerDir: string;
  beforeAll(async () => {
    dir = await tempDir("mkosi-durable-");
    ({ worker, dir: workerDir } = await compileWorker());
  }, 120_000);
  afterAll(async () => {
    await cleanup(dir);
    await cleanup(workerDir);
  });

  it("flush the files, then the rename, then the record", () => {
    const cache = join(dir, "cache");
    const trace = join(dir, "trace");
    // -y: file descriptors are printed with their paths.
    execFileSync(
      "strace",
      [
        "-f",
        "-qq",
        "-y",
        "-o",
        trace,
        "-e",
        "trace=syncfs,rename,renameat,renameat2,fsync,fdatasync,msync",
        "node",
        worker,
        "crash",
        cache,
        "0",
      ],
      { stdio: "pipe" },
    );
    const lines = execFileSync("cat", [trace], { encoding: "utf8" }).split("\n");
    const artifacts = join(cache, "artifacts");
    // The first artifact renamed into place.
    const renameAt = lines.findIndex((l) => /\brename/.test(l) && l.includes(`"${artifacts}/`));
    expect(renameAt).toBeGreaterThan(0);
    expect(lines.slice(0, renameAt).some((l) => /\bsyncfs\(/.test(l))).toBe(true);
    const after = lines.slice(renameAt + 1);
    const dirSync = after.findIndex((l) => /\bfsync\(\d+</.test(l) && l.includes(`<${artifacts}>`));
    expect(dirSync).toBeGreaterThanOrEqual(0);
    const indexFlush = after.findIndex(
      (l, i) => i > dirSync && /\b(fdatasync|msync|fsync)\(/.test(l) && l.includes("data.mdb"),
    );
    expect(indexFlush).toBeGreaterThan(dirSync);
  }, 120_000);
});
