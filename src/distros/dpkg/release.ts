// Debian's release names: codenames, and testing/unstable images whose os-release has no
// VERSION_ID. The engine matches a report with an image by release and asks the family
// for these rules (engine/osrelease.ts ReleaseRules).
import type { OsRelease, Release, ReleaseRules } from '../../engine/osrelease.js';
import { numericComponents } from '../../engine/osrelease.js';

export const DEBIAN_CODENAMES: Readonly<Record<string, number>> = {
  buzz: 1,
  rex: 1,
  bo: 1,
  hamm: 2,
  slink: 2,
  potato: 2,
  woody: 3,
  sarge: 3,
  etch: 4,
  lenny: 5,
  squeeze: 6,
  wheezy: 7,
  jessie: 8,
  stretch: 9,
  buster: 10,
  bullseye: 11,
  bookworm: 12,
  trixie: 13,
  forky: 14,
  duke: 15,
};

/** The release number of a codename, or undefined. */
export function codenameNumber(code: string): number | undefined {
  const c = code.trim().toLowerCase();
  return Object.hasOwn(DEBIAN_CODENAMES, c) ? DEBIAN_CODENAMES[c] : undefined;
}

/** Keys of one word of a Debian version: "12.5" → 12, "bookworm" → 12, "sid"/"unstable" → sid, "testing". */
function keysOf(word: string): string[] {
  const w = word.trim().toLowerCase();
  const major = numericComponents(w)[0];
  if (major !== undefined) return [String(major)];
  const n = codenameNumber(w);
  if (n !== undefined) return [String(n)];
  if (w === 'sid' || w === 'unstable') return ['sid'];
  if (w === 'testing') return ['testing'];
  return [];
}

export const debianRelease: ReleaseRules = {
  // testing/unstable images have no VERSION_ID; their codename still names the release.
  versionOf(osr: OsRelease): string {
    if (osr.versionId !== '') return osr.versionId;
    const n = codenameNumber(osr.versionCodename);
    return n !== undefined ? String(n) : osr.versionCodename.toLowerCase();
  },
  // "trixie/sid" (what /etc/debian_version says on testing and unstable) names both.
  releaseOf(version: string): Release | null {
    const keys = [...new Set(version.split('/').flatMap(keysOf))];
    return keys.length ? { keys, label: keys.join('/') } : null;
  },
};
