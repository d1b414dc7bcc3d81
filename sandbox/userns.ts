// Unprivileged builds: an ordinary user runs the whole build inside a user namespace in which they are
// root, the way mkosi does it. The caller's uid becomes uid 0 and the caller's subordinate range from
// /etc/subuid (and /etc/subgid) covers ids 1…65535, so package managers can chown files to system users,
// and a private mount namespace lets the build mount overlayfs (with `userxattr`) and run bubblewrap.
// The mappings are set up by util-linux `unshare --map-root-user --map-auto`, which calls the setuid
// `newuidmap`/`newgidmap` helpers of the uidmap package.
//
// On disk, files owned by root in the image belong to the caller; files of other image users belong to
// subordinate ids, which is why `mkosi clean` also runs inside the namespace.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { constants, userInfo } from "node:os";
import { currentMountNamespace } from "./namespace.js";

/** Set in the re-executed process, so it never tries to enter a namespace twice. */
export const USERNS_ENV = "MKOSI_IN_USER_NAMESPACE";

let cachedInUserNamespace: boolean | undefined;

/** Is this process in a user namespace other than the initial one (uid map not the identity)? */
export function inUserNamespace(): boolean {
  if (cachedInUserNamespace !== undefined) return cachedInUserNamespace;
  try {
    const map = readFileSync("/proc/self/uid_map", "utf8").trim().split(/\s+/);
    cachedInUserNamespace = !(map[0] === "0" && map[1] === "0" && map[2] === "4294967295");
  } catch {
    cachedInUserNamespace = false;
  }
  return cachedInUserNamespace;
}

/** Real root in the initial namespace: builds need no namespace of their own. */
export function isRealRoot(): boolean {
  return process.getuid?.() === 0 && !inUserNamespace();
}

export interface SubordinateRange {
  start: number;
  count: number;
}

/** The first range of /etc/subuid (or /etc/subgid) that belongs to the user, by name or by id. */
export function subordinateRange(file: string, name: string, id: number): SubordinateRange | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const [owner, start, count] = line.trim().split(":");
    if (owner !== name && owner !== String(id)) continue;
    const range = { start: Number(start), count: Number(count) };
    if (Number.isInteger(range.start) && Number.isInteger(range.count) && range.count > 0) return range;
  }
  return undefined;
}

/** Package managers need ids up to 65535 (nobody/nogroup and friends) besides root. */
const NEEDED_IDS = 65536;

/** Why this user cannot get a usable namespace, or undefined when they can. */
export function userNamespaceProblem(): string | undefined {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const name = userInfo().username;
  const missing: string[] = [];
  for (const [file, id] of [
    ["/etc/subuid", uid],
    ["/etc/subgid", gid],
  ] as const) {
    const range = subordinateRange(file, name, id);
    if (!range || range.count < NEEDED_IDS - 1) missing.push(file);
  }
  if (missing.length > 0)
    return (
      `building as an unprivileged user needs ${NEEDED_IDS - 1} subordinate ids for ${name} in ` +
      `${missing.join(" and ")} (e.g. "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${name}"), ` +
      "or run mkosi as root"
    );
  return undefined;
}

/**
 * Run this same mkosi command again inside a new user and mount namespace and return its exit status.
 * The parent only waits: terminal signals reach the child through the shared process group, and a
 * SIGTERM sent to the parent is passed on.
 */
export function reexecInUserNamespace(argv: readonly string[]): Promise<number> {
  const command = [
    "--map-root-user",
    "--map-auto",
    "--mount",
    "--propagation",
    "private",
    "--",
    process.execPath,
    ...process.execArgv,
    ...argv,
  ];
  return new Promise((resolvePromise) => {
    const child = spawn("unshare", command, {
      stdio: "inherit",
      // The namespace it starts from: the child's own mount namespace differs (sandbox/namespace.ts).
      env: { ...process.env, [USERNS_ENV]: "1", MKOSI_OUTER_MOUNT_NAMESPACE: currentMountNamespace() ?? "" },
    });
    const ignore = () => undefined;
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const onTerm = forward("SIGTERM");
    process.on("SIGINT", ignore);
    process.on("SIGTERM", onTerm);
    child.on("error", (err) => {
      process.stderr.write(`‣ could not enter a user namespace with unshare: ${err.message}\n`);
      resolvePromise(1);
    });
    child.on("close", (code, signal) => {
      process.off("SIGINT", ignore);
      process.off("SIGTERM", onTerm);
      resolvePromise(code ?? (signal ? 128 + constants.signals[signal] : 1));
    });
  });
}
