import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CopaError } from '../../src/engine/errors.js';
import {
  fieldValue,
  formatStanza,
  formatStatusFile,
  installedVersions,
  parseConffiles,
  parseDpkgStatus,
  parseStanzas,
  parseStatusD,
} from '../../src/distros/dpkg/status.js';

// Shaped like a real /var/lib/dpkg/status (fields and order as dpkg writes them).
const STATUS = `Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 343
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 12.4+deb12u5
Replaces: base, dpkg (<= 1.15.0), miscutils
Provides: base
Conffiles:
 /etc/debian_version 0df2b5b7cbb4bc2d4ad7a3a8d1a6b4cb
 /etc/host.conf 4eb63731c9f5e30903ac4fc07a7fe3d6
 /etc/issue 79d3a5bf1e4b1bd4d8aa4a3b9bde8a1c
 /etc/old.conf 11111111111111111111111111111111 obsolete
 /etc/gone.conf 22222222222222222222222222222222 remove-on-upgrade
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system, and
 several important miscellaneous files, such as /etc/debian_version.
 .
 It also contains the default Debian configuration.

Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12987
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: libc6
Status: install ok installed
Architecture: i386
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries

Package: removed-pkg
Status: deinstall ok config-files
Priority: optional
Architecture: all
Version: 1.0-1
Conffiles:
 /etc/removed.conf 33333333333333333333333333333333
Description: removed, config left behind

Package: half-installed
Status: install reinstreq half-installed
Architecture: amd64
Version: 2.0-1
Description: broken
`;

describe('parseDpkgStatus', () => {
  const pkgs = parseDpkgStatus(STATUS);

  it('reads every stanza with a Package field', () => {
    expect(pkgs.map((p) => `${p.name}:${p.architecture}`)).toEqual([
      'base-files:amd64',
      'libc6:amd64',
      'libc6:i386',
      'removed-pkg:all',
      'half-installed:amd64',
    ]);
  });

  it('only "install ok installed" counts as installed', () => {
    expect(pkgs.map((p) => [p.name, p.status, p.installed])).toEqual([
      ['base-files', 'install ok installed', true],
      ['libc6', 'install ok installed', true],
      ['libc6', 'install ok installed', true],
      ['removed-pkg', 'deinstall ok config-files', false],
      ['half-installed', 'install reinstreq half-installed', false],
    ]);
  });

  it('keeps Conffiles with path, md5 and flags', () => {
    expect(pkgs[0]!.conffiles).toEqual([
      { path: '/etc/debian_version', md5: '0df2b5b7cbb4bc2d4ad7a3a8d1a6b4cb', obsolete: false, removeOnUpgrade: false },
      { path: '/etc/host.conf', md5: '4eb63731c9f5e30903ac4fc07a7fe3d6', obsolete: false, removeOnUpgrade: false },
      { path: '/etc/issue', md5: '79d3a5bf1e4b1bd4d8aa4a3b9bde8a1c', obsolete: false, removeOnUpgrade: false },
      { path: '/etc/old.conf', md5: '11111111111111111111111111111111', obsolete: true, removeOnUpgrade: false },
      { path: '/etc/gone.conf', md5: '22222222222222222222222222222222', obsolete: false, removeOnUpgrade: true },
    ]);
    expect(pkgs[3]!.conffiles).toHaveLength(1);
    expect(pkgs[1]!.conffiles).toEqual([]);
  });

  it('keeps each stanza raw, and fields with continuation lines', () => {
    const stanzas = STATUS.split('\n\n').map((s) => (s.endsWith('\n') ? s : `${s}\n`));
    expect(pkgs.map((p) => p.raw)).toEqual(stanzas);
    expect(fieldValue(pkgs[0]!, 'description')).toBe(
      'Debian base system miscellaneous files\n This package contains the basic filesystem hierarchy of a Debian system, and\n several important miscellaneous files, such as /etc/debian_version.\n .\n It also contains the default Debian configuration.',
    );
    expect(fieldValue(pkgs[0]!, 'Conffiles')!.startsWith('\n /etc/debian_version')).toBe(true);
    expect(pkgs[1]!.line).toBe(25);
  });

  it('formatStanza round-trips every stanza byte for byte', () => {
    for (const p of pkgs) expect(formatStanza(p.fields)).toBe(p.raw);
    expect(pkgs.map((p) => formatStanza(p.fields)).join('\n')).toBe(STATUS);
  });

  it('formatStanza writes new stanzas dpkg can read back', () => {
    const text = formatStanza([
      ['Package', 'curl'],
      ['Status', 'install ok installed'],
      ['Version', '7.88.1-10+deb12u5'],
      ['Conffiles', '\n /etc/curlrc 0123456789abcdef0123456789abcdef'],
      ['Description', 'a tool\n second line\n .\n third'],
    ]);
    expect(text).toBe(
      'Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10+deb12u5\nConffiles:\n /etc/curlrc 0123456789abcdef0123456789abcdef\nDescription: a tool\n second line\n .\n third\n',
    );
    const [p] = parseDpkgStatus(text);
    expect(p!.installed).toBe(true);
    expect(p!.conffiles[0]!.path).toBe('/etc/curlrc');
  });

  it('formatStanza refuses values that would break the file', () => {
    expect(() => formatStanza([['Description', 'a\nnot indented']])).toThrow(CopaError);
    expect(() => formatStanza([['Description', 'a\n\n b']])).toThrow(CopaError);
    expect(() => formatStanza([['Bad Name', 'x']])).toThrow(CopaError);
    expect(() => formatStanza([['Bad:Name', 'x']])).toThrow(CopaError);
  });

  it('installedVersions maps name and name:arch', () => {
    const m = installedVersions(pkgs);
    expect(m.get('libc6')).toBe('2.36-9+deb12u4');
    expect(m.get('libc6:i386')).toBe('2.36-9+deb12u4');
    expect(m.get('base-files:amd64')).toBe('12.4+deb12u5');
    expect(m.has('removed-pkg')).toBe(false);
    expect(m.has('half-installed')).toBe(false);
  });

  it('tolerates CRLF, several blank lines and a missing final newline', () => {
    const p = parseDpkgStatus('\r\n\r\nPackage: a\r\nStatus: install ok installed\r\nVersion: 1\r\n\r\n\r\n\r\nPackage: b\nStatus: install ok installed\nVersion: 2');
    expect(p.map((x) => [x.name, x.version])).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
  });

  it('a stanza without Status is not installed, unless assumed (control files, status.d)', () => {
    const control = 'Package: curl\nVersion: 7.88.1-10+deb12u5\nArchitecture: amd64\n';
    expect(parseDpkgStatus(control)[0]!.installed).toBe(false);
    expect(parseDpkgStatus(control, { assumeInstalled: true })[0]!.installed).toBe(true);
  });

  it('damaged databases are image errors naming file and line', () => {
    const bad = (text: string, re: RegExp) => {
      try {
        parseDpkgStatus(text, '/var/lib/dpkg/status');
      } catch (e) {
        expect(e).toBeInstanceOf(CopaError);
        expect((e as CopaError).category).toBe('image');
        expect((e as CopaError).message).toMatch(re);
        return;
      }
      throw new Error('expected an error');
    };
    bad(' leading continuation\n', /^\/var\/lib\/dpkg\/status:1: continuation line outside a field/);
    bad('Package: a\nno colon here\n', /^\/var\/lib\/dpkg\/status:2: expected "Field: value", found "no colon here"/);
    bad('Package: a\nStatus: install ok installed\n', /status:1: installed package "a" has no Version/);
  });

  const LIVE = '/var/lib/dpkg/status';
  const hasLive = existsSync(LIVE);
  it.skipIf(!hasLive)(`round-trips this machine's ${LIVE}${hasLive ? '' : ' (SKIPPED: not a Debian-family machine)'}`, () => {
    const text = readFileSync(LIVE, 'utf8');
    const live = parseDpkgStatus(text);
    expect(live.length).toBeGreaterThan(10);
    expect(live.filter((p) => p.installed).length).toBeGreaterThan(10);
    const stanzas = parseStanzas(text);
    expect(formatStatusFile(stanzas.map((s) => s.fields))).toBe(text);
  });
});

describe('parseConffiles', () => {
  it('paths with spaces, newconffile, blank lines', () => {
    expect(parseConffiles('\n /etc/a b.conf 0123 obsolete\n /etc/c newconffile\n\n')).toEqual([
      { path: '/etc/a b.conf', md5: '0123', obsolete: true, removeOnUpgrade: false },
      { path: '/etc/c', md5: 'newconffile', obsolete: false, removeOnUpgrade: false },
    ]);
  });
});

describe('parseStatusD (distroless)', () => {
  const entries = [
    { name: 'libssl1.1', content: 'Package: libssl1.1\nVersion: 1.1.0k-1~deb9u1\nArchitecture: amd64\n' },
    { name: 'libssl1.1.md5sums', content: '0123456789abcdef0123456789abcdef  usr/lib/x86_64-linux-gnu/libssl.so.1.1\n' },
    {
      name: 'base',
      content:
        'Package: base-files\nStatus: install ok installed\nVersion: 9.9+deb9u9\nArchitecture: amd64\n\nPackage: netbase\nStatus: install ok installed\nVersion: 5.4\nArchitecture: all\n',
    },
    { name: 'gone', content: 'Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n' },
  ];

  it('one or more stanzas per file, *.md5sums skipped, files in name order', () => {
    const pkgs = parseStatusD(entries);
    expect(pkgs.map((p) => [p.file, p.name, p.version, p.installed])).toEqual([
      ['base', 'base-files', '9.9+deb9u9', true],
      ['base', 'netbase', '5.4', true],
      ['gone', 'gone', '1', false],
      ['libssl1.1', 'libssl1.1', '1.1.0k-1~deb9u1', true],
    ]);
  });

  it('errors name the status.d entry', () => {
    expect(() => parseStatusD([{ name: 'broken', content: 'garbage\n' }])).toThrow(/^\/var\/lib\/dpkg\/status\.d\/broken:1:/);
  });
});
