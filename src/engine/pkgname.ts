// Package names and versions from a report end up as arguments of package-manager commands
// run inside the image (apt-get, apk, tdnf, dnf, zypper, often through `sh -c`). Nothing
// from a report may reach those commands unless it matches the family's own grammar, which
// by construction excludes shell metacharacters, whitespace, control characters, path
// separators, non-ASCII look-alikes and a leading '-' (option injection).

import { CopaError, quote } from './errors.js';
import { comparatorFor, type PkgFamily } from './versions/index.js';

export const MAX_PACKAGE_FIELD_LENGTH = 256;

interface NameRule {
  pattern: RegExp;
  allowed: string;
}

const NAME_RULES: Record<PkgFamily, NameRule> = {
  // Debian policy §5.6.1 (at least two characters), plus dpkg's ":arch" qualifier.
  deb: {
    pattern: /^[a-z0-9][a-z0-9+.-]+(?::[a-z0-9][a-z0-9-]*)?$/,
    allowed:
      'lowercase letters, digits, "+", "-" and ".", at least two characters, starting with a letter or digit, optionally followed by ":<arch>"',
  },
  rpm: {
    pattern: /^[A-Za-z0-9_][A-Za-z0-9._+-]*$/,
    allowed: 'letters, digits, "_", ".", "+" and "-", starting with a letter, digit or "_"',
  },
  apk: {
    pattern: /^[A-Za-z0-9_][A-Za-z0-9._+-]*$/,
    allowed: 'letters, digits, "_", ".", "+" and "-", starting with a letter, digit or "_"',
  },
};

const VERSION_GRAMMAR: Record<PkgFamily, string> = {
  deb: '[epoch:]upstream[-revision]: a numeric epoch, an upstream version starting with a digit (letters, digits, ".", "+", "~", "-", ":"), a revision of letters, digits, ".", "+", "~"',
  rpm: '[epoch:]version[-release]: a numeric epoch, a version starting with a digit, and a release, both of letters, digits, ".", "_", "+", "~", "^"',
  apk: 'digits{.digits}[letter]{_suffix[digits]}[~hash][-rN], suffixes alpha, beta, pre, rc, cvs, svn, git, hg, p',
};

// Belt and braces: whatever a grammar allows, these never pass.
const SAFE_CHARS = /^[A-Za-z0-9._+~^:-]+$/;

const FAMILY_LABEL: Record<PkgFamily, string> = { deb: 'Debian', rpm: 'RPM', apk: 'Alpine' };

export function isSafePackageName(family: PkgFamily, name: string): boolean {
  return (
    typeof name === 'string' &&
    name.length <= MAX_PACKAGE_FIELD_LENGTH &&
    SAFE_CHARS.test(name) &&
    NAME_RULES[family].pattern.test(name)
  );
}

export function isSafeVersion(family: PkgFamily, version: string): boolean {
  return (
    typeof version === 'string' &&
    version.length <= MAX_PACKAGE_FIELD_LENGTH &&
    SAFE_CHARS.test(version) &&
    comparatorFor(family).isValid(version)
  );
}

/** The first thing wrong with a value, in words a user can act on; '' when nothing obvious. */
function diagnose(value: string): string {
  if (value === '') return 'it is empty';
  if (value.length > MAX_PACKAGE_FIELD_LENGTH)
    return `it is ${value.length} characters long (at most ${MAX_PACKAGE_FIELD_LENGTH})`;
  if (value.startsWith('-')) return 'it starts with "-", which a package manager would read as a command-line option';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || cp === 0x7f) return 'it contains a control character';
    if (/\s/.test(ch)) return 'it contains whitespace';
    if (cp > 0x7e)
      return `it contains the non-ASCII character U+${cp.toString(16).toUpperCase().padStart(4, '0')} (look-alike characters are not accepted)`;
    if (ch === '/') return 'it contains "/"';
    if (';&|$`\\"\'<>(){}[]*?!#=%,@'.includes(ch)) return `it contains the shell metacharacter ${JSON.stringify(ch)}`;
  }
  return '';
}

export interface PackageLocation {
  /** The file the value came from (a report path). */
  source?: string;
  /** JSON path of the package name, e.g. Results[0].Vulnerabilities[3].PkgName. */
  name: string;
  /** JSON path of the version. */
  version?: string;
}

function prefix(source: string | undefined): string {
  return source ? `${source}: ` : '';
}

export function assertSafePackageName(family: PkgFamily, name: string, path: string, source?: string): void {
  if (isSafePackageName(family, name)) return;
  const why = diagnose(name);
  throw new CopaError(
    'report',
    `${prefix(source)}${path} is ${quote(String(name))}, which is not a valid ${FAMILY_LABEL[family]} package name` +
      `${why ? `: ${why}` : ''}. Allowed: ${NAME_RULES[family].allowed}, at most ${MAX_PACKAGE_FIELD_LENGTH} characters. ` +
      'Package names may not contain shell metacharacters, whitespace or control characters.',
    { hint: 'Fix the report or regenerate it with the scanner; copa never passes such a value to a package manager.' },
  );
}

export function assertSafeVersion(family: PkgFamily, version: string, path: string, source?: string): void {
  if (isSafeVersion(family, version)) return;
  const why = diagnose(version);
  throw new CopaError(
    'report',
    `${prefix(source)}${path} is ${quote(String(version))}, which is not a valid ${FAMILY_LABEL[family]} package version` +
      `${why ? `: ${why}` : ''}. Expected ${VERSION_GRAMMAR[family]}, at most ${MAX_PACKAGE_FIELD_LENGTH} characters. ` +
      'Versions may not contain shell metacharacters, whitespace or control characters.',
    { hint: 'Check that the report was made for this kind of image (its OS family decides the version syntax), or regenerate it.' },
  );
}

/**
 * Throw CopaError('report') unless `name` (and `version`, when given) are safe, well-formed
 * values for the package family. `where` is the JSON path of the name, or a location naming
 * the file and the JSON paths of both values.
 */
export function assertSafePackage(
  family: PkgFamily,
  name: string,
  version: string | undefined,
  where: string | PackageLocation,
): void {
  const loc: PackageLocation = typeof where === 'string' ? { name: where } : where;
  assertSafePackageName(family, name, loc.name, loc.source);
  if (version !== undefined) {
    assertSafeVersion(family, version, loc.version ?? `the version of ${loc.name}`, loc.source);
  }
}
