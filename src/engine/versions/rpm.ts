// RPM versions: [epoch:]version[-release] ("EVR"), ordered the way rpm itself orders them
// (rpm's vercmp, cross-checked against `rpm.vercmp` of rpm 4.18 in the unit tests):
//   - epoch first (missing = 0), then version, then release, each with the segment
//     comparison below;
//   - a missing release sorts before any present release ("1.0" < "1.0-1").
// Segment comparison: characters other than ASCII letters, digits, '~' and '^' only
// separate segments; a segment is a maximal run of digits (compared numerically) or of
// letters (compared as bytes); a numeric segment is newer than an alphabetic one; '~'
// sorts before everything, even the end of the string ("1.0~rc1" < "1.0"); '^' sorts after
// the end of the string but before any other segment ("1.0" < "1.0^git1" < "1.0.1"); when
// all segments tie, the string with segments left over is newer.

import { compareDigits, type Cmp } from './deb.js';

export type { Cmp };

export interface RpmEvr {
  /** null when the string has no "digits:" prefix (compares as "0"). */
  epoch: string | null;
  version: string;
  /** null when there is no '-'. */
  release: string | null;
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isAlpha = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const TILDE = 126;
const CARET = 94;

/** Split an EVR the way rpm does; never fails. */
export function splitEvr(evr: string): RpmEvr {
  let k = 0;
  while (k < evr.length && isDigit(evr.charCodeAt(k))) k++;
  let epoch: string | null = null;
  let rest = evr;
  if (evr.charCodeAt(k) === 58 /* : */) {
    epoch = k === 0 ? '0' : evr.slice(0, k);
    rest = evr.slice(k + 1);
  }
  const dash = rest.lastIndexOf('-');
  if (dash < 0) return { epoch, version: rest, release: null };
  return { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) };
}

/** rpm's comparison of one version or release string. */
export function rpmvercmp(a: string, b: string): Cmp {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  const sep = (c: number): boolean => !isDigit(c) && !isAlpha(c) && c !== TILDE && c !== CARET;
  for (;;) {
    while (i < a.length && sep(a.charCodeAt(i))) i++;
    while (j < b.length && sep(b.charCodeAt(j))) j++;
    const endA = i >= a.length;
    const endB = j >= b.length;
    if (endA && endB) return 0;
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);

    if (ca === TILDE || cb === TILDE) {
      if (ca !== TILDE) return 1;
      if (cb !== TILDE) return -1;
      i++;
      j++;
      continue;
    }
    if (ca === CARET || cb === CARET) {
      if (endA) return -1;
      if (endB) return 1;
      if (ca !== CARET) return 1;
      if (cb !== CARET) return -1;
      i++;
      j++;
      continue;
    }
    if (endA || endB) return endA ? -1 : 1;

    const numeric = isDigit(ca);
    const inSegment = numeric ? isDigit : isAlpha;
    let ei = i;
    while (ei < a.length && inSegment(a.charCodeAt(ei))) ei++;
    let ej = j;
    while (ej < b.length && inSegment(b.charCodeAt(ej))) ej++;
    // b has a segment of the other kind here: numbers are newer than letters.
    if (ej === j) return numeric ? 1 : -1;

    const sa = a.slice(i, ei);
    const sb = b.slice(j, ej);
    const r: Cmp = numeric ? compareDigits(sa, sb) : sa < sb ? -1 : sa > sb ? 1 : 0;
    if (r !== 0) return r;
    i = ei;
    j = ej;
  }
}

function compareOptional(a: string | null, b: string | null): Cmp {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  return rpmvercmp(a, b);
}

export function compare(a: string, b: string): Cmp {
  if (a === b) return 0;
  const x = splitEvr(a);
  const y = splitEvr(b);
  return (
    rpmvercmp(x.epoch ?? '0', y.epoch ?? '0') ||
    rpmvercmp(x.version, y.version) ||
    compareOptional(x.release, y.release)
  );
}

const EVR = /^(?:([0-9]+):)?([0-9][A-Za-z0-9._+~^]*)(?:-([A-Za-z0-9._+~^]+))?$/;

/**
 * A well-formed EVR: optional numeric epoch, a version that starts with a digit, and an
 * optional non-empty release; version and release never contain '-' (rpm forbids it).
 */
export function isValid(v: string): boolean {
  if (typeof v !== 'string') return false;
  const m = EVR.exec(v);
  if (!m) return false;
  return m[1] === undefined || Number(m[1]) <= 4294967295;
}
