import { describe, expect, it } from 'vitest';
import { CopaError } from '../../src/engine/errors.js';
import { debianRelease } from '../../src/distros/dpkg/release.js';

// Debian's codenames and testing/unstable naming come from its family (distros/dpkg).
const RULES = { debian: debianRelease };
import {
  assertReportMatchesImage,
  canonicalOs,
  canonicalType,
  majorVersion,
  numericComponents,
  parseOsRelease,
  pkgFamilyOf,
} from '../../src/engine/osrelease.js';

// Real os-release files (abridged only where marked).
const OS_RELEASE: Record<string, string> = {
  debian12: `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`,
  debianSid: `PRETTY_NAME="Debian GNU/Linux trixie/sid"
NAME="Debian GNU/Linux"
VERSION_CODENAME=trixie
ID=debian
`,
  distroless: `PRETTY_NAME="Distroless"
NAME="Debian GNU/Linux"
ID="debian"
VERSION_ID="12"
VERSION="Debian GNU/Linux 12 (bookworm)"
HOME_URL="https://github.com/GoogleContainerTools/distroless"
`,
  ubuntu2204: `PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=jammy
`,
  alpine: `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
`,
  mariner2: `NAME="Common Base Linux Mariner"
VERSION="2.0.20240123"
ID=mariner
VERSION_ID="2.0"
PRETTY_NAME="CBL-Mariner/Linux"
`,
  azurelinux3: `NAME="Microsoft Azure Linux"
VERSION="3.0.20240727"
ID=azurelinux
VERSION_ID="3.0"
PRETTY_NAME="Microsoft Azure Linux 3.0"
`,
  alma9: `NAME="AlmaLinux"
VERSION="9.3 (Shamrock Pampas Cat)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PRETTY_NAME="AlmaLinux 9.3 (Shamrock Pampas Cat)"
`,
  oracle8: `NAME="Oracle Linux Server"
VERSION="8.9"
ID="ol"
ID_LIKE="fedora"
VERSION_ID="8.9"
PRETTY_NAME="Oracle Linux Server 8.9"
`,
  amazon2: `NAME="Amazon Linux"
VERSION="2"
ID="amzn"
ID_LIKE="centos rhel fedora"
VERSION_ID="2"
PRETTY_NAME="Amazon Linux 2"
`,
  ubi9: `NAME="Red Hat Enterprise Linux"
VERSION="9.3 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.3"
PRETTY_NAME="Red Hat Enterprise Linux 9.3 (Plow)"
`,
  leap: `NAME="openSUSE Leap"
VERSION="15.5"
ID="opensuse-leap"
ID_LIKE="suse opensuse"
VERSION_ID="15.5"
PRETTY_NAME="openSUSE Leap 15.5"
`,
  photon: `NAME="VMware Photon OS"
VERSION="5.0"
ID=photon
VERSION_ID=5.0
PRETTY_NAME="VMware Photon OS/Linux"
`,
  wolfi: `ID=wolfi
NAME="Wolfi"
PRETTY_NAME="Wolfi"
VERSION_ID="20230201"
`,
};

describe('parseOsRelease', () => {
  it('reads the fields copa uses', () => {
    expect(parseOsRelease(OS_RELEASE.ubuntu2204!)).toMatchObject({
      id: 'ubuntu',
      idLike: ['debian'],
      versionId: '22.04',
      versionCodename: 'jammy',
      prettyName: 'Ubuntu 22.04.4 LTS',
      name: 'Ubuntu',
    });
    expect(parseOsRelease(OS_RELEASE.alma9!).idLike).toEqual(['rhel', 'centos', 'fedora']);
  });

  it('handles quoting, escapes, comments, blank lines and CRLF', () => {
    const osr = parseOsRelease(
      [
        '# a comment',
        '',
        '  ID="my\\"os"  ',
        "NAME='single $quoted \\n'",
        'PRETTY_NAME="dollar \\$HOME backtick \\` backslash \\\\ other \\q"',
        'VERSION_ID=1.0\\ beta',
        'VERSION_CODENAME=code # trailing comment',
        'not an assignment',
        '1BAD=x',
        'EMPTY=',
      ].join('\r\n'),
    );
    expect(osr.id).toBe('my"os');
    expect(osr.name).toBe('single $quoted \\n');
    expect(osr.prettyName).toBe('dollar $HOME backtick ` backslash \\ other \\q');
    expect(osr.versionId).toBe('1.0 beta');
    expect(osr.versionCodename).toBe('code');
    expect(osr.fields.EMPTY).toBe('');
    expect(osr.fields['1BAD']).toBeUndefined();
  });

  it('applies the os-release defaults', () => {
    expect(parseOsRelease('')).toMatchObject({ id: 'linux', name: 'Linux', prettyName: 'Linux', versionId: '', idLike: [] });
  });

  it('lowercases ID and an unterminated quote ends the value', () => {
    expect(parseOsRelease('ID=Debian\nNAME="oops').id).toBe('debian');
    expect(parseOsRelease('NAME="oops').name).toBe('oops');
  });
});

describe('canonicalOs', () => {
  it.each([
    ['debian12', { family: 'debian', type: 'debian', version: '12', pkgFamily: 'deb' }],
    ['debianSid', { family: 'debian', type: 'debian', version: '13', pkgFamily: 'deb' }],
    ['distroless', { family: 'debian', type: 'debian', version: '12', pkgFamily: 'deb' }],
    ['ubuntu2204', { family: 'ubuntu', type: 'ubuntu', version: '22.04', pkgFamily: 'deb' }],
    ['alpine', { family: 'alpine', type: 'alpine', version: '3.19.1', pkgFamily: 'apk' }],
    ['mariner2', { family: 'rpm-mariner', type: 'cbl-mariner', version: '2.0', pkgFamily: 'rpm' }],
    ['azurelinux3', { family: 'rpm-mariner', type: 'azurelinux', version: '3.0', pkgFamily: 'rpm' }],
    ['alma9', { family: 'rpm-rhel', type: 'alma', version: '9.3', pkgFamily: 'rpm' }],
    ['oracle8', { family: 'rpm-rhel', type: 'oracle', version: '8.9', pkgFamily: 'rpm' }],
    ['amazon2', { family: 'rpm-rhel', type: 'amazon', version: '2', pkgFamily: 'rpm' }],
    ['ubi9', { family: 'rpm-rhel', type: 'redhat', version: '9.3', pkgFamily: 'rpm' }],
    ['leap', { family: 'rpm-suse', type: 'opensuse-leap', version: '15.5', pkgFamily: 'rpm' }],
    ['photon', { family: 'rpm-photon', type: 'photon', version: '5.0', pkgFamily: 'rpm' }],
  ])('%s', (key, want) => {
    expect(canonicalOs(parseOsRelease(OS_RELEASE[key]!), RULES)).toEqual(want);
  });

  it('refuses what copa cannot patch, saying why', () => {
    const e = (() => {
      try {
        canonicalOs(parseOsRelease(OS_RELEASE.wolfi!));
      } catch (err) {
        return err as CopaError;
      }
      throw new Error('no error');
    })();
    expect(e).toBeInstanceOf(CopaError);
    expect(e.category).toBe('image');
    expect(e.message).toContain('ID=wolfi');
    expect(e.message).toContain('Wolfi images are not supported');
    expect(() => canonicalOs(parseOsRelease('ID=plan9'))).toThrow(/"plan9" is not a supported OS; supported: debian, ubuntu, alpine/);
  });
});

describe('canonicalType and helpers', () => {
  it.each([
    ['debian', 'debian'],
    ['mariner', 'cbl-mariner'],
    ['cbl-mariner', 'cbl-mariner'],
    ['azurelinux', 'azurelinux'],
    ['almalinux', 'alma'],
    ['alma', 'alma'],
    ['ol', 'oracle'],
    ['oracle', 'oracle'],
    ['amzn', 'amazon'],
    ['rhel', 'redhat'],
    ['redhat', 'redhat'],
    ['centos', 'centos'],
    ['rocky', 'rocky'],
    ['photon', 'photon'],
    ['sles', 'sles'],
    ['suse linux enterprise server', 'sles'],
    ['opensuse-leap', 'opensuse-leap'],
    ['opensuse.leap', 'opensuse-leap'],
    ['opensuse.tumbleweed', 'opensuse-tumbleweed'],
    [' Ubuntu ', 'ubuntu'],
    ['wolfi', null],
    ['fedora', null],
    ['', null],
    ['__proto__', null],
    ['constructor', null],
  ])('%j → %s', (name, want) => expect(canonicalType(name)).toBe(want));

  it('pkgFamilyOf', () => {
    expect(pkgFamilyOf('ubuntu')).toBe('deb');
    expect(pkgFamilyOf('alpine')).toBe('apk');
    expect(pkgFamilyOf('amzn')).toBe('rpm');
    expect(pkgFamilyOf('wolfi')).toBeNull();
  });

  it('numeric version components', () => {
    expect(numericComponents('12.9')).toEqual([12, 9]);
    expect(numericComponents('2 (Karoo)')).toEqual([2]);
    expect(numericComponents('3.21.0_alpha20240807')).toEqual([3, 21, 0]);
    expect(numericComponents('sid')).toEqual([]);
    expect(majorVersion('9.13')).toBe(9);
    expect(majorVersion('')).toBeNull();
  });
});

describe('assertReportMatchesImage', () => {
  const ok = (report: { family: string; version: string } | null, image: { type: string; version: string }) =>
    expect(() => assertReportMatchesImage(report, image, 'r.json', RULES)).not.toThrow();
  const bad = (report: { family: string; version: string }, image: { type: string; version: string }, msg: RegExp | string) => {
    try {
      assertReportMatchesImage(report, image, 'r.json', RULES);
    } catch (e) {
      expect(e).toBeInstanceOf(CopaError);
      expect((e as CopaError).category).toBe('report');
      expect((e as CopaError).message).toMatch(msg);
      expect((e as CopaError).hint).toContain('Scan the image you are patching');
      return;
    }
    throw new Error('expected a mismatch');
  };

  it('accepts the same distribution and release, in either spelling', () => {
    ok({ family: 'debian', version: '12.5' }, { type: 'debian', version: '12' });
    ok({ family: 'debian', version: 'bookworm' }, { type: 'debian', version: '12' });
    ok({ family: 'ubuntu', version: '22.04' }, { type: 'ubuntu', version: '22.04' });
    ok({ family: 'alma', version: '8.5' }, { type: 'almalinux', version: '8.9' });
    ok({ family: 'amazon', version: '2 (Karoo)' }, { type: 'amzn', version: '2' });
    ok({ family: 'alpine', version: '3.19.1' }, { type: 'alpine', version: '3.19.0' });
    ok({ family: 'cbl-mariner', version: '3.0' }, { type: 'azurelinux', version: '3.0' });
    ok({ family: 'suse linux enterprise server', version: '15.6' }, { type: 'sles', version: '15.6' });
  });

  it('passes when the report does not say, or a version is not numeric', () => {
    ok(null, { type: 'debian', version: '12' });
    ok({ family: 'debian', version: 'trixie/sid' }, { type: 'debian', version: 'sid' });
    ok({ family: 'alpine', version: 'edge' }, { type: 'alpine', version: '3.21.0_alpha2024' });
  });

  it('refuses another distribution', () => {
    bad({ family: 'alpine', version: '3.19.1' }, { type: 'debian', version: '12' }, 'r.json is a report for alpine 3.19.1, but the image runs debian 12');
    bad({ family: 'ubuntu', version: '22.04' }, { type: 'debian', version: '12' }, /for ubuntu 22.04, but the image runs debian 12/);
    bad({ family: 'centos', version: '7' }, { type: 'rhel', version: '7.9' }, /for centos 7, but the image runs redhat 7.9/);
  });

  it('refuses another release', () => {
    bad({ family: 'debian', version: '11.9' }, { type: 'debian', version: '12' }, /release 11 vs 12/);
    bad({ family: 'ubuntu', version: '20.04' }, { type: 'ubuntu', version: '22.04' }, /release 20.04 vs 22.04/);
    bad({ family: 'alpine', version: '3.18.4' }, { type: 'alpine', version: '3.19.1' }, /release 3.18 vs 3.19/);
    bad({ family: 'cbl-mariner', version: '1.0' }, { type: 'mariner', version: '2.0' }, /release 1 vs 2/);
    bad({ family: 'amazon', version: '2 (Karoo)' }, { type: 'amzn', version: '2023' }, /release 2 vs 2023/);
    bad({ family: 'debian', version: 'buster' }, { type: 'debian', version: '12' }, /release 10 vs 12/);
  });

  it('refuses an unsupported OS on either side', () => {
    expect(() => assertReportMatchesImage({ family: 'wolfi', version: '1' }, { type: 'debian', version: '12' }, 'r.json')).toThrow(/r\.json: the report is for "wolfi"/);
    expect(() => assertReportMatchesImage({ family: 'debian', version: '12' }, { type: 'plan9', version: '4' }, 'r.json')).toThrow(/"plan9" is not a supported OS/);
  });
});
