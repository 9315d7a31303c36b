// One entry point for the three version orderings the engine needs.
import * as apk from './apk.js';
import * as deb from './deb.js';
import * as rpm from './rpm.js';
import type { Cmp } from './deb.js';
import { CopaError } from '../errors.js';

export type { Cmp };
export type PkgFamily = 'deb' | 'rpm' | 'apk';
export const PKG_FAMILIES: readonly PkgFamily[] = ['deb', 'rpm', 'apk'];

/**
 * A version ordering. Callable as cmp(a, b) (so it can be handed to Array#sort), with the
 * same function as cmp.compare, and cmp.isValid for the family's grammar.
 */
export interface VersionComparator {
  (a: string, b: string): Cmp;
  readonly family: PkgFamily;
  /** -1 when a is older than b, 1 when newer, 0 when the distro considers them equal. */
  readonly compare: (a: string, b: string) => Cmp;
  /** Whether v is a well-formed version of this family (see each module for the grammar). */
  readonly isValid: (v: string) => boolean;
}

function make(family: PkgFamily, compare: (a: string, b: string) => Cmp, isValid: (v: string) => boolean): VersionComparator {
  const cmp = ((a: string, b: string) => compare(a, b)) as VersionComparator;
  return Object.freeze(Object.assign(cmp, { family, compare, isValid }));
}

const COMPARATORS: Record<PkgFamily, VersionComparator> = {
  deb: make('deb', deb.compare, deb.isValid),
  rpm: make('rpm', rpm.compare, rpm.isValid),
  apk: make('apk', apk.compare, apk.isValid),
};

export function comparatorFor(family: PkgFamily): VersionComparator {
  const c = Object.hasOwn(COMPARATORS, family) ? COMPARATORS[family] : undefined;
  if (!c) throw new CopaError('internal', `no version comparator for package family ${JSON.stringify(family)}`);
  return c;
}
