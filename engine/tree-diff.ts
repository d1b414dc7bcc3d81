// Which files differ between two tree fingerprints, from the directory manifests in the store.

import { displayName } from "./filenames.js";
import type { Store } from "./store.js";

/** Files that differ between two fingerprints (paths relative to the declared path). Needs the stored
 * manifests; returns undefined when they are gone. */
export function diffTrees(
  store: Store,
  oldFp: string,
  newFp: string,
): { added: string[]; removed: string[]; modified: string[] } | undefined {
  const res = { added: [] as string[], removed: [] as string[], modified: [] as string[] };
  const digestOf = (fp: string) =>
    fp.startsWith("D ") ? fp.slice(2) : fp.startsWith("d ") ? fp.split(" ")[3] : undefined;
  const listAll = (digest: string, prefix: string, into: string[]): boolean => {
    const m = store.getDir(digest);
    if (!m) return false;
    for (const [name, fp] of m) {
      const rel = prefix + name;
      into.push(rel);
      const d = fp.startsWith("d ") ? digestOf(fp) : undefined;
      if (d && !listAll(d, `${rel}/`, into)) return false;
    }
    return true;
  };
  const cmp = (a: string, b: string, prefix: string): boolean => {
    if (a === b) return true;
    const ma = store.getDir(a);
    const mb = store.getDir(b);
    if (!ma || !mb) return false;
    const A = new Map(ma);
    const B = new Map(mb);
    for (const [name, fa] of ma) {
      const rel = prefix + name;
      const fb = B.get(name);
      if (fb === undefined) {
        res.removed.push(rel);
        const d = fa.startsWith("d ") ? digestOf(fa) : undefined;
        if (d && !listAll(d, `${rel}/`, res.removed)) return false;
      } else if (fa !== fb) {
        const da = fa.startsWith("d ") ? digestOf(fa) : undefined;
        const db = fb.startsWith("d ") ? digestOf(fb) : undefined;
        if (da && db) {
          // Directory metadata (mode, owner, xattrs) changed: report the directory itself.
          if (fa.replace(da, "") !== fb.replace(db, "")) res.modified.push(rel);
          if (!cmp(da, db, `${rel}/`)) return false;
        } else {
          res.modified.push(rel);
          if (da && !listAll(da, `${rel}/`, res.removed)) return false;
          if (db && !listAll(db, `${rel}/`, res.added)) return false;
        }
      }
    }
    for (const [name, fb] of mb) {
      if (A.has(name)) continue;
      const rel = prefix + name;
      res.added.push(rel);
      const d = fb.startsWith("d ") ? digestOf(fb) : undefined;
      if (d && !listAll(d, `${rel}/`, res.added)) return false;
    }
    return true;
  };
  const da = digestOf(oldFp);
  const db = digestOf(newFp);
  // For people: names that are not UTF-8 with their bytes as \xNN.
  const shown = () => ({
    added: res.added.map(displayName),
    removed: res.removed.map(displayName),
    modified: res.modified.map(displayName),
  });
  if (oldFp.startsWith("D ") && newFp.startsWith("D ") && da && db) {
    return cmp(da, db, "") ? shown() : undefined;
  }
  if (newFp.startsWith("D ") && db && (oldFp === "absent" || oldFp === "none")) {
    return listAll(db, "", res.added) ? shown() : undefined;
  }
  if (oldFp.startsWith("D ") && da && (newFp === "absent" || newFp === "none")) {
    return listAll(da, "", res.removed) ? shown() : undefined;
  }
  return undefined;
}
