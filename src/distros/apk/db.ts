// apk's installed database, /lib/apk/db/installed, read straight from BuildKit's snapshot
// (no probe container). The format is apk-tools' index format: one record per package,
// records separated by an empty line, each line "<letter>:<value>" — P: name, V: version,
// A: arch, o: origin, D:/p:/r: dependencies, provides, replaces, then the file list
// (F: directory, R: file in it, Z: its checksum, a:/M: ownership and mode), and so on.
// We need names and versions (plus arch and origin for the log); unknown letters are kept
// out of the way, as apk itself reads them (it refuses only letters it cannot parse).
import { BridgeFileNotFound, type Bridge, type SolvedRef } from '../../engine/bridge.js';
import { CopaError, quote } from '../../engine/errors.js';

export const INSTALLED_DB = '/lib/apk/db/installed';

export interface ApkPackage {
  name: string;
  version: string;
  /** A: (absent in very old databases). */
  arch: string;
  /** o: the source package (aport) it was built from; '' when absent. */
  origin: string;
}

export interface ApkDb {
  /** By name, in database order. */
  packages: Map<string, ApkPackage>;
}

/** Parse the text of /lib/apk/db/installed; CopaError('image') naming the line when it is not apk's format. */
export function parseApkInstalled(text: string, where = INSTALLED_DB): ApkDb {
  const packages = new Map<string, ApkPackage>();
  let fields: Partial<Record<'P' | 'V' | 'A' | 'o', string>> = {};
  let start = 0;
  let seen = false;
  const end = () => {
    if (!seen) return;
    const { P: name, V: version } = fields;
    if (!name || !version) {
      throw new CopaError('image', `${where}: the record at line ${start} has no ${name ? 'V: (version)' : 'P: (package name)'} line`, {
        hint: "the image's apk database is damaged; rebuild the image or repair it with apk fix",
      });
    }
    if (packages.has(name)) {
      throw new CopaError('image', `${where}: package ${quote(name)} is listed twice (again at line ${start})`, {
        hint: "the image's apk database is damaged; rebuild the image or repair it with apk fix",
      });
    }
    packages.set(name, { name, version, arch: fields.A ?? '', origin: fields.o ?? '' });
    fields = {};
    seen = false;
  };
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const lineNo = i + 1;
    // apk ends a record at any line shorter than two characters.
    if (line.length < 2) return end();
    if (line[1] !== ':') {
      throw new CopaError('image', `${where}: line ${lineNo} is not an apk database line (expected "<letter>:<value>"): ${quote(line.slice(0, 80))}`, {
        hint: "the image's apk database is damaged; rebuild the image or repair it with apk fix",
      });
    }
    if (!seen) {
      seen = true;
      start = lineNo;
    }
    const letter = line[0]!;
    if (letter === 'P' || letter === 'V' || letter === 'A' || letter === 'o') fields[letter] = line.slice(2);
  });
  end();
  return { packages };
}

/** The image's apk database; null when it has none. */
export async function readApkDb(bridge: Bridge, ref: SolvedRef): Promise<ApkDb | null> {
  let body: Buffer;
  try {
    body = await bridge.readFile(ref, INSTALLED_DB);
  } catch (e) {
    if (e instanceof BridgeFileNotFound) return null;
    throw e;
  }
  return parseApkInstalled(body.toString('utf8'));
}

export function versionsOf(db: ApkDb): Map<string, string> {
  return new Map([...db.packages].map(([n, p]) => [n, p.version]));
}
