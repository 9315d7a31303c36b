// Debian package versions: [epoch:]upstream_version[-debian_revision], ordered as Debian
// policy §5.6.12 describes (and dpkg implements):
//   - epochs compare numerically (a missing epoch is 0);
//   - upstream and revision compare by alternating runs: a run of non-digits compared
//     character by character, where '~' sorts before everything (even the end of the
//     string), then the end of the string, then letters, then all other characters; and a
//     run of digits compared numerically (leading zeros ignored);
//   - a missing revision equals "0" (so 1.0 == 1.0-0).

export type Cmp = -1 | 0 | 1;

export interface DebVersion {
  /** Digits only, without leading zeros ("0" when absent). */
  epoch: string;
  upstream: string;
  /** '' when absent. */
  revision: string;
}

const EPOCH_MAX = 2147483647; // dpkg keeps the epoch in an int
const UPSTREAM_CHARS = /^[A-Za-z0-9.+~:-]+$/;
const REVISION_CHARS = /^[A-Za-z0-9.+~]+$/;

function stripZeros(digits: string): string {
  const s = digits.replace(/^0+/, '');
  return s === '' ? '0' : s;
}

/** Compare two strings of ASCII digits as unbounded non-negative integers. */
export function compareDigits(a: string, b: string): Cmp {
  const x = stripZeros(a);
  const y = stripZeros(b);
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  if (x === y) return 0;
  return x < y ? -1 : 1;
}

/**
 * Split without validating. Used by compare(), which must give a total order even for
 * strings isValid() rejects: a colon whose prefix is not all digits is not an epoch.
 */
function split(v: string): DebVersion {
  let rest = v;
  let epoch = '0';
  const colon = rest.indexOf(':');
  if (colon > 0 && /^[0-9]+$/.test(rest.slice(0, colon))) {
    epoch = stripZeros(rest.slice(0, colon));
    rest = rest.slice(colon + 1);
  }
  let revision = '';
  const dash = rest.lastIndexOf('-');
  if (dash >= 0) {
    revision = rest.slice(dash + 1);
    rest = rest.slice(0, dash);
  }
  return { epoch, upstream: rest, revision };
}

/** Parse a version that satisfies Debian policy; null when it does not. */
export function parse(v: string): DebVersion | null {
  if (typeof v !== 'string' || v === '') return null;
  let rest = v;
  let epoch = '0';
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    const e = rest.slice(0, colon);
    if (!/^[0-9]+$/.test(e) || Number(e) > EPOCH_MAX) return null;
    epoch = stripZeros(e);
    rest = rest.slice(colon + 1);
  }
  let revision = '';
  const dash = rest.lastIndexOf('-');
  if (dash >= 0) {
    revision = rest.slice(dash + 1);
    rest = rest.slice(0, dash);
    if (!REVISION_CHARS.test(revision)) return null;
  }
  if (rest === '' || !/^[0-9]/.test(rest) || !UPSTREAM_CHARS.test(rest)) return null;
  // A colon in the upstream part is only legal when an epoch is present.
  if (colon < 0 && rest.includes(':')) return null;
  return { epoch, upstream: rest, revision };
}

export function isValid(v: string): boolean {
  return parse(v) !== null;
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** Sort weight of one character in a non-digit run; the end of the string weighs 0. */
function weight(s: string, i: number): number {
  if (i >= s.length) return 0;
  const c = s.charCodeAt(i);
  if (c === 126 /* ~ */) return -1;
  if (isLetter(c)) return c;
  return c + 256;
}

/** Debian's comparison of one upstream-version or revision string. */
export function compareFragment(a: string, b: string): Cmp {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    // Non-digit run, character by character.
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const wa = isDigit(a.charCodeAt(i)) ? 0 : weight(a, i);
      const wb = isDigit(b.charCodeAt(j)) ? 0 : weight(b, j);
      if (wa !== wb) return wa < wb ? -1 : 1;
      i++;
      j++;
    }
    // Digit run, numerically.
    let ei = i;
    while (ei < a.length && isDigit(a.charCodeAt(ei))) ei++;
    let ej = j;
    while (ej < b.length && isDigit(b.charCodeAt(ej))) ej++;
    const r = compareDigits(a.slice(i, ei) || '0', b.slice(j, ej) || '0');
    if (r !== 0) return r;
    i = ei;
    j = ej;
  }
  return 0;
}

export function compare(a: string, b: string): Cmp {
  if (a === b) return 0;
  const x = split(a);
  const y = split(b);
  return compareDigits(x.epoch, y.epoch) || compareFragment(x.upstream, y.upstream) || compareFragment(x.revision, y.revision);
}
