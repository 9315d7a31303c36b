import { describe, expect, it } from 'vitest';
import { CopaError } from '../../src/engine/errors.js';
import {
  assertSafePackage,
  assertSafePackageName,
  assertSafeVersion,
  isSafePackageName,
  isSafeVersion,
} from '../../src/engine/pkgname.js';
import type { PkgFamily } from '../../src/engine/versions/index.js';

const FAMILIES: PkgFamily[] = ['deb', 'rpm', 'apk'];

function thrown(fn: () => void): CopaError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CopaError);
    return e as CopaError;
  }
  throw new Error('expected a CopaError');
}

// Values that must never reach a package manager, whatever the family.
const HOSTILE: [string, string][] = [
  ['semicolon', 'curl;rm -rf /'],
  ['command substitution', 'curl$(id)'],
  ['backticks', 'curl`id`'],
  ['newline', 'curl\nrm'],
  ['carriage return', 'curl\r'],
  ['path traversal', '../../etc/passwd'],
  ['slash', 'lib/curl'],
  ['space', 'curl openssl'],
  ['tab', 'curl\topenssl'],
  ['leading dash (option injection)', '-oAPT::Get::AllowUnauthenticated=1'],
  ['leading double dash', '--allow-downgrades'],
  ['empty', ''],
  ['NUL', 'curl\u0000'],
  ['Cyrillic a look-alike', 'b\u0430sh'],
  ['fullwidth semicolon', 'curl\uff1bid'],
  ['zero-width space', 'cu\u200brl'],
  ['non-breaking space', 'curl\u00a0x'],
  ['pipe', 'curl|sh'],
  ['ampersand', 'curl&'],
  ['redirect', 'curl>x'],
  ['glob', 'lib*'],
  ['dollar variable', '$HOME'],
  ['quote', "curl'"],
  ['double quote', 'curl"'],
  ['backslash', 'curl\\'],
  ['equals (apt version pin)', 'curl=7.0'],
  ['too long', 'a'.repeat(257)],
];

describe('package names', () => {
  it.each([
    ['deb', 'libc6'],
    ['deb', 'libc6:amd64'],
    ['deb', 'libstdc++6'],
    ['deb', 'g++-12'],
    ['deb', 'libssl1.1'],
    ['deb', 'e2fsprogs'],
    ['rpm', 'openssl-libs'],
    ['rpm', 'libopenssl1_1'],
    ['rpm', 'perl-IO-Socket-SSL'],
    ['rpm', 'NetworkManager'],
    ['rpm', '_underscore'],
    ['rpm', 'libstdc++'],
    ['apk', 'libcrypto1.1'],
    ['apk', 'musl-utils'],
    ['apk', 'py3-pip'],
    ['apk', 'a'.repeat(256)],
  ] as [PkgFamily, string][])('%s accepts %s', (family, name) => {
    expect(isSafePackageName(family, name)).toBe(true);
    expect(() => assertSafePackageName(family, name, 'x')).not.toThrow();
  });

  it.each([
    ['deb', 'Libc6', 'Debian names are lowercase'],
    ['deb', 'a', 'at least two characters'],
    ['deb', 'lib_foo', 'no underscore'],
    ['deb', '.hidden', 'must start with a letter or digit'],
    ['deb', 'libc6:', 'empty arch'],
    ['deb', 'libc6:amd64:x', 'two qualifiers'],
    ['rpm', '.foo', 'leading dot'],
    ['rpm', 'foo:bar', 'colon'],
    ['rpm', 'foo~1', 'tilde'],
    ['apk', 'foo:bar', 'colon'],
  ] as [PkgFamily, string, string][])('%s rejects %j (%s)', (family, name) => {
    expect(isSafePackageName(family, name)).toBe(false);
  });

  for (const family of FAMILIES) {
    it.each(HOSTILE)(`${family} rejects %s`, (_what, value) => {
      expect(isSafePackageName(family, value)).toBe(false);
      expect(isSafeVersion(family, value)).toBe(false);
      const e = thrown(() => assertSafePackageName(family, value, 'Results[0].Vulnerabilities[3].PkgName', 'report.json'));
      expect(e.category).toBe('report');
      expect(e.message).toContain('report.json: Results[0].Vulnerabilities[3].PkgName is ');
      expect(e.message).toContain('Package names may not contain shell metacharacters');
      // The value is JSON-escaped: no raw control or non-ASCII characters reach a terminal or log.
      expect(e.message).not.toMatch(/[\u0000-\u001f\u007f-\uffff]/);
    });
  }

  it('shows the offending value JSON-escaped and says why', () => {
    const nl = thrown(() => assertSafePackageName('deb', 'curl\nrm -rf /', 'updates[0].name', 'r.json'));
    expect(nl.message).toContain('"curl\\nrm -rf /"');
    expect(nl.message).toContain('control character');

    const dash = thrown(() => assertSafePackageName('deb', '-oDebug=1', 'updates[0].name'));
    expect(dash.message).toContain('command-line option');

    const lookalike = thrown(() => assertSafePackageName('rpm', 'b\u0430sh', 'updates[1].name'));
    expect(lookalike.message).toContain('"b\\u0430sh"');
    expect(lookalike.message).toContain('U+0430');

    const subst = thrown(() => assertSafePackageName('apk', 'x$(id)', 'updates[2].name'));
    expect(subst.message).toContain('shell metacharacter "$"');

    const nul = thrown(() => assertSafePackageName('apk', 'x\u0000', 'p'));
    expect(nul.message).toContain('"x\\u0000"');

    const long = thrown(() => assertSafePackageName('deb', 'a'.repeat(300), 'p'));
    expect(long.message).toContain('300 characters long');
    expect(long.message.length).toBeLessThan(800);

    const empty = thrown(() => assertSafePackageName('deb', '', 'p'));
    expect(empty.message).toContain('is "", which is not a valid Debian package name: it is empty');
  });
});

describe('versions', () => {
  it.each([
    ['deb', '1:2.36.1-8+deb11u1'],
    ['deb', '1.1.0k-1~deb9u1'],
    ['rpm', '1:1.1.1k-5.el8_5'],
    ['rpm', '1.0^git1'],
    ['apk', '1.1.1d-r2'],
    ['apk', '0.1_pre2~1234abcd'],
  ] as [PkgFamily, string][])('%s accepts %s', (family, v) => {
    expect(isSafeVersion(family, v)).toBe(true);
  });

  it.each([
    ['deb', 'a1.0'],
    ['deb', '1.0-'],
    ['rpm', '1.0-1-1'],
    ['apk', '1:1.0'],
    ['apk', '1.0-1'],
    ['deb', `1.${'0'.repeat(300)}`],
  ] as [PkgFamily, string][])('%s rejects %j', (family, v) => {
    expect(isSafeVersion(family, v)).toBe(false);
    const e = thrown(() => assertSafeVersion(family, v, 'updates[0].fixedVersion', 'r.json'));
    expect(e.message).toMatch(/^r\.json: updates\[0\]\.fixedVersion is ".*?"(\.\.\. \(\d+ characters\))?, which is not a valid \w+ package version/);
  });
});

describe('assertSafePackage', () => {
  it('checks name and version with their own paths', () => {
    expect(() => assertSafePackage('deb', 'curl', '7.68.0-1ubuntu2.19', { source: 'r.json', name: 'a.name', version: 'a.ver' })).not.toThrow();
    const e = thrown(() => assertSafePackage('deb', 'curl', '7.68;id', { source: 'r.json', name: 'a.name', version: 'a.ver' }));
    expect(e.message).toContain('r.json: a.ver is "7.68;id"');
    const n = thrown(() => assertSafePackage('deb', 'cu rl', '1.0', { source: 'r.json', name: 'a.name', version: 'a.ver' }));
    expect(n.message).toContain('r.json: a.name is "cu rl"');
  });
  it('accepts a bare JSON path and an absent version', () => {
    expect(() => assertSafePackage('rpm', 'bash', undefined, 'updates[0].name')).not.toThrow();
    const e = thrown(() => assertSafePackage('rpm', 'bash', 'x', 'updates[0].name'));
    expect(e.message).toContain('the version of updates[0].name is "x"');
  });
});
