// Version orderings, checked against the real tools.
//
// DEB and RPM tables: every expected value was produced by the real tool, not written by
// hand — `dpkg --compare-versions` (dpkg 1.21.22) and `rpm.vercmp` from
// `rpm --eval '%{lua: …}'` (rpm 4.18.0) — and the "live" tests below re-run the tools over
// the same tables whenever they are on PATH. The APK table is taken from apk-tools' own
// test data (test/unit/version.data, which apk-tools 2.14 and 3 both pass).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as apk from '../../src/engine/versions/apk.js';
import * as deb from '../../src/engine/versions/deb.js';
import * as rpm from '../../src/engine/versions/rpm.js';
import { comparatorFor, type PkgFamily } from '../../src/engine/versions/index.js';
import { CopaError } from '../../src/engine/errors.js';

type Row = [a: string, b: string, expected: -1 | 0 | 1];

// prettier-ignore
const DEB: Row[] = [
  ["1.0", "1.0", 0],
  ["1.0", "1.0-0", 0],
  ["1.0", "1.0-1", -1],
  ["1.0-1", "1.0-2", -1],
  ["1.0-2", "1.0-10", -1],
  ["1.0~rc1", "1.0", -1],
  ["1.0~rc1-1", "1.0-1", -1],
  ["1.0~~", "1.0~", -1],
  ["1.0~", "1.0", -1],
  ["1.0~a", "1.0~b", -1],
  ["1.0~1", "1.0~a", -1],
  ["1.0-1~", "1.0-1", -1],
  ["1.0-1~~", "1.0-1~", -1],
  ["1.0a~", "1.0a", -1],
  ["1.0", "1.0a", -1],
  ["1.0a", "1.0+b1", -1],
  ["1.0", "1.0+b1", -1],
  ["1.0+b1", "1.0.1", -1],
  ["1.0.a", "1.0a", 1],
  ["1.0aa", "1.0a", 1],
  ["1.0A", "1.0a", -1],
  ["1.0-A", "1.0-a", -1],
  ["1.0+a", "1.0.a", -1],
  ["1.0+", "1.0", 1],
  ["1.0.", "1.0", 1],
  ["1.0-~", "1.0-0", -1],
  ["1:1.0", "2:0.1", -1],
  ["1:1.0", "1.0", 1],
  ["0:1.0", "1.0", 0],
  ["1:1.0", "9.9", 1],
  ["10:0", "9:99", 1],
  ["1.00", "1.0", 0],
  ["01.0", "1.0", 0],
  ["1.0.0", "1.0", 1],
  ["0", "0.0", -1],
  ["00", "0", 0],
  ["1.0-1~bpo11+1", "1.0-1", -1],
  ["1.0-1build1", "1.0-1", 1],
  ["1.0-1ubuntu1", "1.0-1+deb11u1", -1],
  ["1.0-1+b1", "1.0-1.1", -1],
  ["1.0-0.1", "1.0-1", -1],
  ["1.0-1.a", "1.0-1.1", 1],
  ["2.36.1-8+deb11u1", "1:2.36.1-8+deb11u1", -1],
  ["1:2.36.1-8+deb11u1", "2.36.1-8+deb11u2", 1],
  ["2.36.1-8+deb11u1", "2.36.1-8+deb11u2", -1],
  ["7.68.0-1ubuntu2.18", "7.68.0-1ubuntu2.19", -1],
  ["1.1.1f-1ubuntu2.17", "1.1.1f-1ubuntu2.18", -1],
  ["1.1.0k-1~deb9u1", "1.1.0l-1~deb9u1", -1],
  ["1.43.4-2", "1.43.4-2+deb9u1", -1],
  ["2.0.5-1", "2.0.5-1+deb10u1", -1],
  ["4.4-5", "4.4.18-2ubuntu1.2", -1],
  ["1.44.1-1ubuntu1.1", "1.44.1-1ubuntu1.2", -1],
  ["9.9", "10", -1],
  ["1.2-3-4", "1.2-3", 1],
  ["1:2:3-4", "1:2-4", 1],
  ["3.0~alpha1", "3.0~beta1", -1],
  ["3.0~~alpha", "3.0~alpha1", -1],
  ["3.0~beta1", "3.0", -1],
  ["20240101", "2024.01.01", 1],
  ["1.0+dfsg-1", "1.0+dfsg1-1", -1],
  ["1.0+dfsg-1", "1.0+ds-1", -1],
  ["999999999999999999999999", "1000000000000000000000000", -1],
  ["1.10", "1.9", 1],
  ["1.0-10", "1.0-9", 1],
  ["2:1.0", "10:0.1", -1],
  ["5.0-4", "5.0-4+deb10u1", -1],
  ["1.18.0-6.1", "1.18.0-6+deb10u1", 1],
];

// prettier-ignore
const RPM: Row[] = [
  ["1.0", "1.0", 0],
  ["1.0", "2.0", -1],
  ["2.0.1", "2.0", 1],
  ["2.0.1a", "2.0.1", 1],
  ["5.5p1", "5.5p10", -1],
  ["5.5p10", "5.6p1", -1],
  ["10xyz", "10.1xyz", -1],
  ["xyz10", "xyz10.1", -1],
  ["xyz.4", "8", -1],
  ["1.0a", "1.0", 1],
  ["1.0aa", "1.0b", -1],
  ["1.0B", "1.0b", -1],
  ["FC5", "fc4", -1],
  ["a", "1", -1],
  ["a", "b", -1],
  ["2.0", "2_0", 0],
  ["2.0", "2.0.", 0],
  ["1.00", "1.0", 0],
  ["01.0", "1.0", 0],
  ["10", "9", 1],
  ["1.0~rc1", "1.0", -1],
  ["1.0~rc1", "1.0~rc2", -1],
  ["1.0~~", "1.0~", -1],
  ["1.0~", "1.0", -1],
  ["1.0^", "1.0", 1],
  ["1.0^git1", "1.0", 1],
  ["1.0^git1", "1.0.1", -1],
  ["1.0^git1~pre", "1.0^git1", -1],
  ["1.0~rc1^git1", "1.0~rc1", 1],
  ["1.0~rc1^git1", "1.0", -1],
  ["1.0^^", "1.0^", 1],
  ["6.0.rc1", "6.0", 1],
  ["999999999999999999999999", "1000000000000000000000000", -1],
  ["1.0", "1.0-1", -1],
  ["1.0-1", "1.0-2", -1],
  ["1.0-2", "1.0-10", -1],
  ["1.0-", "1.0", 1],
  ["1.0-1a", "1.0-1", 1],
  ["1.0-1.a", "1.0-1a", 0],
  ["1.0-a", "1.0-1", -1],
  ["1:1.0", "2.0", 1],
  ["0:1.0", "1.0", 0],
  [":1.0", "0:1.0", 0],
  ["2:0.1", "1:9.9", 1],
  ["1.0-1.el8", "1.0-1.el8_5", -1],
  ["1.0-1.el8.1", "1.0-1.el8_5", -1],
  ["1:1.1.1k-4.el8", "1:1.1.1k-5.el8_5", -1],
  ["1.1.1k-5.el8_5", "1:1.1.1k-4.el8", -1],
  ["1:1.0.2k-16.el7", "1:1.0.2k-19.el7", -1],
  ["7.61.1-12.amzn2.0.1", "7.61.1-11.amzn2.0.2", 1],
  ["7.61.1-9.amzn2.0.1", "7.61.1-11.amzn2.0.2", -1],
  ["8.2.4081-1.cm1", "8.2.4082-1.cm1", -1],
  ["4.4.18-1.ph3", "4.4.18-2.ph3", -1],
  ["1.1.0i-lp151.8.3.1", "1.1.0i-lp151.8.6.1", -1],
  ["2.5^1-1", "2.5-1", 1],
  ["1.0-1^post", "1.0-1", 1],
  ["5.34.1-489.cm2", "5.34.1-488.cm2", 1],
  ["2.9.1-5.el9", "2.9.1-5.el9_2", -1],
  ["3.0.7-24.el9", "3.0.7-25.el9_3", -1],
  ["1.2.3-1.fc38", "1.2.3-1.fc39", -1],
];

// prettier-ignore
const APK: Row[] = [
  ["2.34", "0.1.0_alpha", 1],
  ["23_foo", "4_beta", 1],
  ["1.0", "1.0bc", -1],
  ["0.1.0_alpha", "0.1.0_alpha", 0],
  ["0.1.0_alpha", "0.1.3_alpha", -1],
  ["0.1.3_alpha", "0.1.0_alpha", 1],
  ["0.1.0_alpha2", "0.1.0_alpha", 1],
  ["0.1.0_alpha", "2.2.39-r1", -1],
  ["2.2.39-r1", "1.0.4-r3", 1],
  ["1.0.4-r3", "1.0.4-r4", -1],
  ["1.0.4-r4", "1.6", -1],
  ["1.6", "1.0.2", 1],
  ["1.0.2", "0.7-r1", 1],
  ["0.7-r1", "1.0.0", -1],
  ["1.0.0", "1.0.1", -1],
  ["1.0.1", "1.1", -1],
  ["1.1", "1.1_alpha1", 1],
  ["1.1_alpha1", "1.2.1", -1],
  ["1.2.1", "1.2", 1],
  ["1.2", "1.3_alpha", -1],
  ["1.3_alpha", "1.3_alpha2", -1],
  ["1.3_alpha2", "1.3_alpha3", -1],
  ["1.3_alpha8", "0.6.0", 1],
  ["0.6.0", "0.6.1", -1],
  ["0.6.1", "0.7.0", -1],
  ["0.7.0", "0.8_beta1", -1],
  ["0.8_beta1", "0.8_beta2", -1],
  ["0.8_beta4", "4.8-r1", -1],
  ["4.8-r1", "3.10.18-r1", 1],
  ["3.10.18-r1", "2.3.0b-r1", 1],
  ["2.3.0b-r1", "2.3.0b-r2", -1],
  ["2.3.0b-r2", "2.3.0b-r3", -1],
  ["2.3.0b-r3", "2.3.0b-r4", -1],
  ["2.3.0b-r4", "0.12.1", 1],
  ["0.12.1", "0.12.2", -1],
  ["0.12.2", "0.12.3", -1],
  ["0.12.3", "0.12", 1],
  ["0.12", "0.13_beta1", -1],
  ["0.13_beta1", "0.13_beta2", -1],
  ["0.13_beta2", "0.13_beta3", -1],
  ["0.2.0-r1", "3.1_p16", -1],
  ["1.06-r6", "006", -1],
  ["20050718-r1", "20050718-r2", -1],
  ["0.99.3.20040818", "0.7", 1],
  ["0.5.2.7", "4.2.52_p2-r1", -1],
  ["2.38", "20050405", -1],
  ["20060720", "3.0.20060720", 1],
  ["1.4.4-r1", "2.1.9.200602141850", -1],
  ["2.5.1a-r1", "1.19.2-r1", 1],
  ["20040401", "2.0.0_rc3-r1", 1],
  ["20020207-r2", "1.31-r2", 1],
  ["2.6.16.20060323", "2.6.19.20061214", -1],
  ["20060512", "1.24", 1],
  ["1.1.7", "6b-r7", -1],
  ["0.10.1_rc1", "0.9.11", 1],
  ["1.3a", "1.0.2", 1],
  ["1.06-r2", "0.15.1b-r2", 1],
  ["22.7", "2.1_pre20", 1],
  ["2.10.1", "02.08.01b", 1],
  ["8.1.2.20040524-r1", "8.1.2.20050715-r1", -1],
  ["3.81", "1.6d", 1],
  ["20060811", "20061003", -1],
  ["0.1_pre20060817", "1.0.3", -1],
  ["1.42", "20030719", -1],
  ["0.20070118", "0.20070207_rc1", -1],
  ["3.7_p1", "1.3", 1],
  ["4.3_p2-r5", "4.4_p1-r6", -1],
  ["4.5_p1", "4.5_p1-r1", -1],
  ["0.9.8c-r1", "0.9.8d", -1],
  ["5b-r9", "2.2.10", 1],
  ["5.7-r3", "5.1_p4", 1],
  ["1.7b", "1.8.4-r3", -1],
  ["0.98", "1.00", -1],
  ["2.9.11_pre20051101-r2", "2.9.11_pre20051101-r3", -1],
  ["2.9.11_pre20061021-r1", "2.9.11_pre20061021-r2", -1],
  ["1.6.8_p12-r1", "1.6.8_p9-r2", 1],
  ["2.25b-r5", "2.25b-r6", -1],
  ["1.4_p12-r2", "1.4_p12-r5", -1],
  ["1.2.5_rc2", "0.1", 1],
  ["2.12r-r4", "2.12r-r5", -1],
  ["0.3.4_pre20061029", "0.4.0", -1],
  ["0.1.0_alpha_pre2", "0.1.0_alpha", -1],
  ["6.1_pre1", "6.1", -1],
  ["8.2.0", "8.2.001", -1],
  ["8.2.0015", "8.2.002", -1],
  ["1.0~1234", "1.0~2345", -1],
  ["1.0~1234-r1", "1.0~2345-r0", -1],
  ["1.0~1234-r1", "1.0~1234-r0", 1],
];

// [version, valid] — also from apk-tools' version.data.
// prettier-ignore
const APK_VALIDITY: [string, boolean][] = [
  ["1.2", true],
  ["0.1_pre2", true],
  ["0.1_pre2~1234abcd", true],
  ["0.1_p1_pre2", true],
  ["0.1_alpha1_pre2", true],
  ["0.1_git20240101_pre1", true],
  ["", false],
  ["0.1bc", false],
  ["0.1bc1", false],
  ["0.1a1", false],
  ["0.1a.1", false],
  ["0.1_pre2~", false],
  ["0.1_pre2~1234xbcd", false],
  ["0.1_pre2~1234abcd_pre1", false],
  ["0.1_pre2-r1~1234xbcd", false],
  ["0.1_foobar", false],
  ["0.1_foobar1", false],
  ["0.1-pre1.1", false],
  ["0.1-r", false],
  ["0.1-r2_pre1", false],
  ["0.1-r2_p3_pre1", false],
  ["0.1-r2-r3", false],
  ["0.1-r2.1", false],
  [".1", false],
  ["a", false],
  ["_pre1", false],
  ["-r1", false],
  ["0.1_", false],
  ["0.1_-r0", false],
  ["0.1__alpha", false],
  ["0.1_1_alpha", false],
  ["1.1.1d-r2", true],
  ["3.3.2-r4", true],
  ["1.0-r1-r2", false],
  ["", false],
  ["1.0 ", false],
  ["-r1", false],
];

function onPath(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

function checkTable(name: string, rows: Row[], compare: (a: string, b: string) => number): void {
  describe(`${name} table`, () => {
    it.each(rows)('%s vs %s → %i', (a, b, want) => {
      expect(compare(a, b)).toBe(want);
      expect(compare(b, a)).toBe(0 - want);
    });
  });
}

/** The order must be a total preorder: sorting all table versions is consistent pairwise. */
function checkConsistency(name: string, rows: Row[], compare: (a: string, b: string) => number): void {
  it(`${name}: ordering is transitive over every version in the table`, () => {
    const vs = [...new Set(rows.flatMap(([a, b]) => [a, b]))];
    const sorted = [...vs].sort(compare);
    const violations: string[] = [];
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length; j++) {
        if (compare(sorted[i]!, sorted[j]!) > 0) violations.push(`${sorted[i]} > ${sorted[j]}`);
      }
    }
    expect(violations).toEqual([]);
  });
}

describe('deb', () => {
  checkTable('dpkg-verified', DEB, deb.compare);
  checkConsistency('deb', DEB, deb.compare);

  it.each([
    '1.0', '0', '1:1.0-1', '1.0~rc1', '1:2:3-4', '2.36.1-8+deb11u1', '1.1.0k-1~deb9u1', '1.0+dfsg-1', '20240101', '1.2-3-4',
  ])('valid: %s', (v) => expect(deb.isValid(v)).toBe(true));

  it.each([
    '', 'a1.0', '1.0-', ':1.0', '1:', '1.0 1', ' 1.0', '1.0_1', '1.0-1_2', '-1', '1.0-a:b', '99999999999:1', '1:a', '1.0-1!', '1.0;ls', '1.0\n',
  ])('invalid: %j', (v) => expect(deb.isValid(v)).toBe(false));

  it('parse splits epoch, upstream and revision', () => {
    expect(deb.parse('1:2.36.1-8+deb11u1')).toEqual({ epoch: '1', upstream: '2.36.1', revision: '8+deb11u1' });
    expect(deb.parse('1.2-3-4')).toEqual({ epoch: '0', upstream: '1.2-3', revision: '4' });
    expect(deb.parse('007:1')).toEqual({ epoch: '7', upstream: '1', revision: '' });
  });

  const hasDpkg = onPath('dpkg', ['--version']);
  it.skipIf(!hasDpkg)(`live: dpkg --compare-versions agrees with every row${hasDpkg ? '' : ' (SKIPPED: dpkg is not on PATH)'}`, () => {
    for (const [a, b] of DEB) {
      const lt = spawnSync('dpkg', ['--compare-versions', a, 'lt', b]).status === 0;
      const eq = spawnSync('dpkg', ['--compare-versions', a, 'eq', b]).status === 0;
      expect(deb.compare(a, b), `${a} vs ${b}`).toBe(lt ? -1 : eq ? 0 : 1);
    }
  });
  it.skipIf(!hasDpkg)(`live: isValid matches what dpkg accepts without complaint${hasDpkg ? '' : ' (SKIPPED: dpkg is not on PATH)'}`, () => {
    for (const v of ['1.0', '1:2:3-4', 'a1.0', '1.0-', ':1.0', '1.0_1', '1.0-1_2', '1:a', '99999999999:1', '1.0-a:b']) {
      const r = spawnSync('dpkg', ['--compare-versions', v, 'eq', v], { encoding: 'utf8' });
      expect(deb.isValid(v), v).toBe(r.status === 0 && r.stderr === '');
    }
  });
});

describe('rpm', () => {
  checkTable('rpm-verified', RPM, rpm.compare);
  checkConsistency('rpm', RPM, rpm.compare);

  it.each(['1.0', '1:1.1.1k-5.el8_5', '7.61.1-12.amzn2.0.1', '1.0~rc1', '1.0^git1', '1.1.0i-lp151.8.6.1', '2.9.1-5.el9_2', '0:1'])(
    'valid: %s',
    (v) => expect(rpm.isValid(v)).toBe(true),
  );
  it.each(['', 'a1.0', '1.0-', '1.0-1-1', ':1.0', '1:', '1.0 1', '1.0;id', '1.0-1$', 'x:1.0', '-1', '99999999999:1', '1.0\u0000'])(
    'invalid: %j',
    (v) => expect(rpm.isValid(v)).toBe(false),
  );

  it('splitEvr follows rpm: digits before ":" are the epoch, the last "-" starts the release', () => {
    expect(rpm.splitEvr('1:1.1.1k-5.el8_5')).toEqual({ epoch: '1', version: '1.1.1k', release: '5.el8_5' });
    expect(rpm.splitEvr('1.0')).toEqual({ epoch: null, version: '1.0', release: null });
    expect(rpm.splitEvr(':1.0')).toEqual({ epoch: '0', version: '1.0', release: null });
  });

  const hasRpm = onPath('rpm', ['--version']);
  it.skipIf(!hasRpm)(`live: rpm.vercmp agrees with every row${hasRpm ? '' : ' (SKIPPED: rpm is not on PATH; apt-get install rpm)'}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'copa-rpmvercmp-'));
    try {
      const script = join(dir, 'cmp.lua');
      writeFileSync(script, RPM.map(([a, b]) => `io.write(rpm.vercmp([==[${a}]==], [==[${b}]==]), "\\n")`).join('\n'));
      const r = spawnSync('rpm', ['--eval', `%{lua: dofile("${script}")}`], { encoding: 'utf8' });
      const got = r.stdout.trim().split('\n').map(Number);
      expect(got).toHaveLength(RPM.length);
      RPM.forEach(([a, b], i) => expect(rpm.compare(a, b), `${a} vs ${b}`).toBe(Math.sign(got[i]!)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('apk', () => {
  checkTable('apk-tools test data', APK, apk.compare);
  it.each(APK_VALIDITY)('validity of %j is %s', (v, ok) => expect(apk.isValid(v)).toBe(ok));

  it.each([
    ['1.0_alpha1', '1.0_beta1', -1],
    ['1.0_beta1', '1.0_pre1', -1],
    ['1.0_pre1', '1.0_rc1', -1],
    ['1.0_rc1', '1.0', -1],
    ['1.0', '1.0_cvs1', -1],
    ['1.0_cvs1', '1.0_svn1', -1],
    ['1.0_svn1', '1.0_git1', -1],
    ['1.0_git1', '1.0_hg1', -1],
    ['1.0_hg1', '1.0_p1', -1],
    ['1.0_p1', '1.0.1', -1],
    ['1.0', '1.0-r1', -1],
    ['1.0-r9', '1.0-r10', -1],
    ['1.0a', '1.0b', -1],
    ['1.0', '1.0a', -1],
    ['1.1.1c-r0', '1.1.1d-r0', -1],
    ['1.1.1d-r0', '1.1.1d-r2', -1],
    ['1.1.20-r4', '1.1.20-r5', -1],
    ['2.35.1-r2', '2.35.2-r0', -1],
    ['3.3.2-r4', '3.3.2-r5', -1],
  ] as Row[])('suffix and revision order: %s vs %s → %i', (a, b, want) => {
    expect(apk.compare(a, b)).toBe(want);
    expect(apk.compare(b, a)).toBe(0 - want);
  });
  checkConsistency('apk', APK.filter(([a, b]) => apk.isValid(a) && apk.isValid(b)), apk.compare);
});

describe('comparatorFor', () => {
  it.each(['deb', 'rpm', 'apk'] as PkgFamily[])('%s: callable, with compare and isValid', (family) => {
    const cmp = comparatorFor(family);
    expect(cmp.family).toBe(family);
    expect(cmp('1.0', '1.1')).toBe(-1);
    expect(cmp.compare('1.1', '1.0')).toBe(1);
    expect(cmp.isValid('1.0')).toBe(true);
    expect(['1.1', '1.0', '1.0.1'].sort(cmp)).toEqual(['1.0', '1.0.1', '1.1']);
  });
  it('picks the family\'s own rules', () => {
    expect(comparatorFor('deb')('1.0~rc1', '1.0')).toBe(-1);
    expect(comparatorFor('rpm')('1.0', '1.0-1')).toBe(-1);
    expect(comparatorFor('deb')('1.0', '1.0-0')).toBe(0);
    expect(comparatorFor('apk')('1.0_rc1', '1.0')).toBe(-1);
    expect(comparatorFor('apk').isValid('1:1.0')).toBe(false);
  });
  it('rejects an unknown family with a CopaError', () => {
    expect(() => comparatorFor('pacman' as PkgFamily)).toThrow(CopaError);
  });
});
