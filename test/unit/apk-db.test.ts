// The apk family's readers over real files: /lib/apk/db/installed from the Alpine
// minirootfs tarballs (3.20.3, 3.19.4) and the bed's apk-less 3.20-static, apk update's
// failure warnings as apk-tools 2.14 prints them, and the tooling rule.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseApkInstalled, versionsOf } from '../../src/distros/apk/db.js';
import { apkUpdateFailures } from '../../src/distros/apk/refresh.js';
import { apkTooling } from '../../src/distros/apk/tooling.js';
import { CopaError } from '../../src/engine/errors.js';
import { comparatorFor } from '../../src/engine/versions/index.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/images', import.meta.url));
const installed = (image: string) => readFileSync(join(FIXTURES, image, 'lib/apk/db/installed'), 'utf8');

function thrown(f: () => unknown): CopaError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CopaError);
    return e as CopaError;
  }
  throw new Error('expected an error');
}

describe('parseApkInstalled (real databases)', () => {
  it('reads every package of the 3.20.3 minirootfs with version, arch and origin', () => {
    const db = parseApkInstalled(installed('alpine-3.20'));
    expect([...db.packages.keys()]).toEqual([
      'alpine-baselayout', 'alpine-baselayout-data', 'alpine-keys', 'apk-tools', 'busybox', 'busybox-binsh', 'ca-certificates-bundle', 'libcrypto3', 'libssl3', 'musl', 'musl-utils', 'scanelf', 'ssl_client', 'zlib',
    ]);
    expect(db.packages.get('libcrypto3')).toEqual({ name: 'libcrypto3', version: '3.3.2-r0', arch: 'x86_64', origin: 'openssl' });
    expect(db.packages.get('busybox-binsh')).toMatchObject({ version: '1.36.1-r29', origin: 'busybox' });
    expect(versionsOf(db).get('musl')).toBe('1.2.5-r0');
    // every version is one apk's ordering accepts
    for (const v of versionsOf(db).values()) expect(comparatorFor('apk').isValid(v), v).toBe(true);
  });

  it('reads the 3.19.4 minirootfs and the apk-less static image', () => {
    expect(versionsOf(parseApkInstalled(installed('alpine-3.19'))).get('libcrypto3')).toBe('3.1.7-r0');
    const stat = versionsOf(parseApkInstalled(installed('alpine-3.20-static')));
    expect([...stat.keys()].sort()).toEqual(['alpine-baselayout-data', 'alpine-keys', 'ca-certificates-bundle', 'libcrypto3', 'libssl3', 'musl', 'zlib']);
    expect(stat.has('apk-tools')).toBe(false);
  });

  it('accepts a database without a final empty line, and package records without files', () => {
    const db = parseApkInstalled('P:a\nV:1.0-r0\n\nP:b\nV:2_rc1-r3\nA:x86');
    expect(versionsOf(db)).toEqual(new Map([['a', '1.0-r0'], ['b', '2_rc1-r3']]));
  });

  it('a damaged database is an image error naming the file and the line', () => {
    const bad = thrown(() => parseApkInstalled('P:a\nV:1-r0\nthis is not apk\n'));
    expect(bad.category).toBe('image');
    expect(bad.message).toMatch(/^\/lib\/apk\/db\/installed: line 3 is not an apk database line/);
    expect(thrown(() => parseApkInstalled('P:a\nA:x86_64\n\n')).message).toMatch(/record at line 1 has no V:/);
    expect(thrown(() => parseApkInstalled('V:1-r0\n\n')).message).toMatch(/record at line 1 has no P:/);
    expect(thrown(() => parseApkInstalled('P:a\nV:1-r0\n\nP:a\nV:2-r0\n')).message).toMatch(/"a" is listed twice \(again at line 4\)/);
  });
});

describe('apkUpdateFailures (apk-tools 2.14 output)', () => {
  it('names each repository apk could not fetch, with its reason', () => {
    const log = [
      'fetch http://127.0.0.1:1/v3.20/main/x86_64/APKINDEX.tar.gz',
      'fetch http://127.0.0.1:41087/v3.99/main/x86_64/APKINDEX.tar.gz',
      'WARNING: updating and opening http://127.0.0.1:1/v3.20/main: could not connect to server (check repositories file)',
      'WARNING: updating and opening http://127.0.0.1:41087/v3.99/main: No such file or directory',
      'WARNING: updating http://mirror.example/v3.20/community: UNTRUSTED signature',
      '4 unavailable, 0 stale; 14 distinct packages available',
    ].join('\n');
    expect(apkUpdateFailures(log, 4)).toEqual([
      { url: 'http://127.0.0.1:1/v3.20/main', message: 'could not connect to server (check repositories file)' },
      { url: 'http://127.0.0.1:41087/v3.99/main', message: 'No such file or directory' },
      { url: 'http://mirror.example/v3.20/community', message: 'UNTRUSTED signature' },
    ]);
  });

  it('a clean update is no failure; a failing one without warnings gives its errors or exit code', () => {
    expect(apkUpdateFailures('fetch http://r/v3.20/main/x86_64/APKINDEX.tar.gz\nOK: 28 distinct packages available\n', 0)).toEqual([]);
    expect(apkUpdateFailures('ERROR: Unable to lock database: Read-only file system\nERROR: Failed to open apk database: Read-only file system\n', 99)).toEqual([
      { url: '', message: 'Unable to lock database: Read-only file system | Failed to open apk database: Read-only file system' },
    ]);
    expect(apkUpdateFailures('', 1)).toEqual([{ url: '', message: 'apk update exited with code 1' }]);
  });

  it('control characters from the log never reach a terminal', () => {
    const [f] = apkUpdateFailures('WARNING: fetching http://x/\u001b[2Jmain: bad\u0007\n', 1);
    expect(f!.url).not.toMatch(/\u001b/);
    expect(f!.message).not.toMatch(/\u0007/);
  });
});

describe('apkTooling', () => {
  it('is alpine:<major.minor> of the image release, and nothing for other distributions', () => {
    expect(apkTooling({ type: 'alpine', version: '3.20.3', hasReport: true })).toBe('docker.io/library/alpine:3.20');
    expect(apkTooling({ type: 'alpine', version: '3.19', hasReport: false })).toBe('docker.io/library/alpine:3.19');
    expect(apkTooling({ type: 'debian', version: '12', hasReport: false })).toBeNull();
    expect(() => apkTooling({ type: 'alpine', version: 'edge', hasReport: false })).toThrow(/does not start with <major>.<minor>/);
  });
});
