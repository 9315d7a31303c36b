// Reading a Debian package database out of an image, without running anything in it:
// the engine reads /var/lib/dpkg/status (or distroless status.d entries) straight from
// BuildKit's snapshot, which is faster than upstream's busybox probe and needs no shell.
import { BridgeFileNotFound, type Bridge, type SolvedRef } from '../../engine/bridge.js';
import { parseDpkgStatus, type DpkgPackage } from './status.js';

export const STATUS_FILE = '/var/lib/dpkg/status';
export const STATUS_DIR = '/var/lib/dpkg/status.d';

export interface DpkgDb {
  /** 'file' = /var/lib/dpkg/status; 'dir' = distroless /var/lib/dpkg/status.d/ entries. */
  kind: 'file' | 'dir';
  packages: Map<string, DpkgPackage>;
  /** For 'dir': which status.d file holds each package (names are kept on rewrite). */
  fileOf: Map<string, string>;
  /** For 'dir': status.d files that have a companion <file>.md5sums. */
  md5sumsFiles: Set<string>;
  /** For 'dir': packages in each status.d file, in file order. */
  filePackages: Map<string, string[]>;
  /** For 'file': every stanza in file order, installed or not (rewrites keep them all). */
  stanzas: DpkgPackage[];
}

export async function readDpkgDb(bridge: Bridge, ref: SolvedRef): Promise<DpkgDb | null> {
  try {
    return statusFileDb((await bridge.readFile(ref, STATUS_FILE)).toString('utf8'));
  } catch (e) {
    if (!(e instanceof BridgeFileNotFound)) throw e;
  }
  let entries;
  try {
    entries = await bridge.readDir(ref, STATUS_DIR);
  } catch (e) {
    if (e instanceof BridgeFileNotFound) return null;
    throw e;
  }
  const db: DpkgDb = { kind: 'dir', packages: new Map(), fileOf: new Map(), md5sumsFiles: new Set(), filePackages: new Map(), stanzas: [] };
  const names = entries.map((e) => e.path).filter((p) => !p.includes('/'));
  const files = names.filter((n) => !n.endsWith('.md5sums')).sort();
  for (const n of names) if (n.endsWith('.md5sums')) db.md5sumsFiles.add(n.slice(0, -'.md5sums'.length));
  const texts = await Promise.all(files.map((f) => bridge.readFile(ref, `${STATUS_DIR}/${f}`)));
  files.forEach((file, i) => {
    // A status.d file's presence means installed; its stanzas usually carry no Status line.
    const pkgs = parseDpkgStatus(texts[i]!.toString('utf8'), { where: `${STATUS_DIR}/${file}`, assumeInstalled: true });
    db.filePackages.set(file, pkgs.map((p) => p.name));
    for (const p of pkgs) {
      if (!p.installed) continue;
      db.packages.set(p.name, p);
      db.fileOf.set(p.name, file);
    }
  });
  return db;
}

export function statusFileDb(text: string): DpkgDb {
  const stanzas = parseDpkgStatus(text, STATUS_FILE);
  const packages = new Map<string, DpkgPackage>();
  for (const p of stanzas) if (p.installed) packages.set(p.name, p);
  return { kind: 'file', packages, fileOf: new Map(), md5sumsFiles: new Set(), filePackages: new Map(), stanzas };
}

export function versionsOf(db: DpkgDb): Map<string, string> {
  return new Map([...db.packages].map(([n, p]) => [n, p.version]));
}
