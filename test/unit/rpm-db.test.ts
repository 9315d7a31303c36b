// The rpm family's readers: the real Mariner 2.0 distroless manifest, real `rpm -qa` output of
// the real sqlite and Berkeley DB databases (made by Debian's rpm 4.18), and the version form
// the reports use.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evrOf, nevraSpec, parseManifest, parseRpmQuery, versionsOf } from '../../src/distros/rpm/db.js';
import { comparatorFor } from '../../src/engine/versions/index.js';
import { CopaError } from '../../src/engine/errors.js';

const IMAGES = fileURLToPath(new URL('../fixtures/images', import.meta.url));
const MANIFEST = '/work/shared/fixtures/rpm/cbl-mariner-2.0-distroless-base.container-manifest-2';
const manifestText = (() => {
  try {
    return readFileSync(MANIFEST, 'utf8');
  } catch {
    return readFileSync(join(IMAGES, 'rpm-mariner-2.0-distroless/var/lib/rpmmanifest/container-manifest-2'), 'utf8');
  }
})();
const query = (tag: string) => readFileSync(join(IMAGES, 'rpm-query', tag, 'packages'), 'utf8');

describe('container-manifest-2 (real Mariner 2.0 distroless base)', () => {
  const lines = parseManifest(manifestText);
  it('reads every package with VERSION-RELEASE, arch and the line as it was', () => {
    expect(lines).toHaveLength(12);
    expect(lines.map((l) => l.name)).toContain('distroless-packages-base');
    const ssl = lines.find((l) => l.name === 'openssl-libs')!;
    expect([ssl.version, ssl.release, ssl.arch, ssl.epoch]).toEqual(['1.1.1k', '15.cm2', 'x86_64', null]);
    expect(ssl.raw).toBe(manifestText.split('\n').find((l) => l.startsWith('openssl-libs\t')));
    expect(versionsOf(lines).get('glibc')).toBe('2.35-2.cm2');
    expect(nevraSpec(ssl)).toBe('openssl-libs-1.1.1k-15.cm2.x86_64');
  });
  it('takes the epoch from the EPOCH field ("(none)": none), as the scanners read the manifest', () => {
    // prebuilt-ca-certificates-base: EPOCH "(none)", EPOCHNUM 1 in the real file.
    expect(versionsOf(lines).get('prebuilt-ca-certificates-base')).toBe('2.0.0-3.cm2');
    const withEpoch = manifestText.split('\n')[0]!.split('\t');
    withEpoch[5] = '2';
    expect(versionsOf(parseManifest(withEpoch.join('\t'))).get('mariner-release')).toBe('2:2.0-12.cm2');
  });
  it('refuses damaged or hostile lines, naming file and line', () => {
    const fields = manifestText.split('\n')[0]!.split('\t');
    const bad = (f: string[]) => () => parseManifest(f.join('\t'), 'M');
    expect(bad(fields.slice(0, 9))).toThrow(/M line 1 .* has 9 tab-separated fields, not 10/);
    expect(bad([`$(reboot)`, ...fields.slice(1)])).toThrow(CopaError);
    expect(bad([fields[0]!, '2.0;rm -rf /-1', ...fields.slice(2)])).toThrow(/version rpm does not allow/);
    expect(bad([...fields.slice(0, 7), 'x86 64', ...fields.slice(8)])).toThrow(/architecture/);
  });
});

describe('rpm -qa output of the real databases', () => {
  it('Mariner 2.0 sqlite: 129 packages, versions as rpm lists them', () => {
    const pkgs = parseRpmQuery(query('cbl-mariner-2.0'));
    const v = versionsOf(pkgs);
    expect(v.size).toBe(129);
    expect(v.get('tdnf')).toBe('2.1.0-8.cm2');
    expect(v.get('openssl-libs')).toBe('1.1.1k-7.cm2');
    expect(v.get('curl')).toBe('7.76.0-6.cm2');
  });
  it('Amazon Linux 2023 sqlite: epochs kept where non-zero (openssl-libs 1:3.0.8), like Trivy writes them', () => {
    const v = versionsOf(parseRpmQuery(query('amazonlinux-2023')));
    expect(v.size).toBe(102); // 103 rpm entries, one of them AL's gpg-pubkey (not a package)
    expect(v.get('openssl-libs')).toBe('1:3.0.8-1.amzn2023.0.4');
    expect(v.get('curl-minimal')).toBe('8.0.1-1.amzn2023.0.1');
    // Comparable with a report's fixed version with or without the epoch spelled out.
    const cmp = comparatorFor('rpm');
    expect(cmp(v.get('openssl-libs')!, '1:3.0.8-1.amzn2023.0.5')).toBe(-1);
    expect(cmp(v.get('curl-minimal')!, '0:8.0.1-1.amzn2023.0.1')).toBe(0);
  });
  it('RHEL 8 Berkeley DB: the one package', () => {
    expect([...versionsOf(parseRpmQuery(query('rhel-8')))]).toEqual([['libuuid', '2.32.1-42.el8_8']]);
  });
  it('leaves out gpg-pubkey and keeps the lower version of a multilib pair', () => {
    const v = versionsOf(
      parseRpmQuery('gpg-pubkey\t(none)\tabc\t123\t(none)\nglibc\t(none)\t2.34\t3.el9\tx86_64\nglibc\t(none)\t2.34\t2.el9\ti686\n'),
    );
    expect([...v]).toEqual([['glibc', '2.34-2.el9']]);
  });
  it('refuses output that is not the query format', () => {
    expect(() => parseRpmQuery('glibc 2.34-2\n')).toThrow(/has 1 fields, not 5/);
    expect(() => parseRpmQuery('glibc\tx\t2.34\t2\tx86_64\n')).toThrow(/non-numeric epoch/);
  });
  it('evrOf drops a zero epoch', () => {
    expect(evrOf({ epoch: '0', version: '1', release: '2' })).toBe('1-2');
    expect(evrOf({ epoch: null, version: '1', release: '2' })).toBe('1-2');
    expect(evrOf({ epoch: '3', version: '1', release: '2' })).toBe('3:1-2');
  });
});
