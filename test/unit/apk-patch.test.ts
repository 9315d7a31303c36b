// The apk family's plan and scripts over a fake Bridge of real Alpine files: which steps
// run, on which image, with which mounts and arguments; what is read back; and that report
// values reach apk only as separate arguments of a fixed script.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeOp, digestOf, type Definition } from '../../src/llb/index.js';
import { patchImage, type PatchRequest } from '../../src/engine/patch.js';
import { CopaError } from '../../src/engine/errors.js';
import { parseReport, type PatchReport } from '../../src/engine/report/index.js';
import { FAMILIES } from '../../src/distros/index.js';
import { parseImageRef } from '../../src/engine/imageref.js';
import { APK_UPDATE, APK_UPGRADE, APK_UPGRADE_ALL } from '../../src/distros/apk/apk-scripts.js';
import { FakeBridge, filesDir, type FakeImage } from './support/fake-bridge.js';
import { execs, fails } from './support/steps.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/images', import.meta.url));
const AMD64 = { os: 'linux', architecture: 'amd64' };
const d = (c: string) => 'sha256:' + c.repeat(64);
const CONFIG = { architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] }, rootfs: { type: 'layers' as const, diff_ids: [d('1')] } };
const image = (dir: string, digest = d('a')): FakeImage => ({ digest, config: CONFIG, dir: join(FIXTURES, dir) });
const ALPINE = { 'docker.io/library/alpine:3.20': image('alpine-3.20') };

function trivy(vulns: Array<[string, string, string]>, version = '3.20.3'): PatchReport {
  return parseReport(
    JSON.stringify({
      SchemaVersion: 2,
      ArtifactName: 'alpine:3.20',
      Metadata: { OS: { Family: 'alpine', Name: version } },
      Results: [{ Target: 'alpine', Class: 'os-pkgs', Type: 'alpine', Vulnerabilities: vulns.map(([n, i, f], k) => ({ VulnerabilityID: `CVE-2025-${1000 + k}`, PkgName: n, InstalledVersion: i, FixedVersion: f })) }],
    }),
    { source: 'report.json', scanner: 'trivy' },
  );
}

/** What the refresh step leaves in /copa-status. */
function refreshed(upgradable: string[], rc = 0, log = 'fetch http://127.0.0.1:8080/v3.20/main/x86_64/APKINDEX.tar.gz\nOK: 28 distinct packages available\n'): string {
  return filesDir({ rc: `${rc}\n`, 'update.log': log, upgradable: upgradable.map((n) => `${n}\n`).join('') });
}

/** An installed database where the named packages carry new versions: what the upgrade step leaves. */
function installedAfter(fixture: string, bumps: Record<string, string>): string {
  let text = readFileSync(join(FIXTURES, fixture, 'lib/apk/db/installed'), 'utf8');
  for (const [name, v] of Object.entries(bumps)) text = text.replace(new RegExp(`(\\nP:${name}\\nV:).+`), `$1${v}`);
  return filesDir({ 'lib/apk/db/installed': text });
}

function req(ref: string, report: PatchReport | null, extra: Partial<PatchRequest> = {}): PatchRequest {
  return { image: parseImageRef(ref), platform: AMD64, report, ignoreErrors: false, families: FAMILIES, refreshToken: 'patch-1', ...extra };
}




const REFRESH = 'copa: refresh package indexes (apk update in the alpine 3.20.3 image)';

describe('apk in the image', () => {
  it('report mode: one apk upgrade of exactly the installed, still vulnerable report packages', async () => {
    const bridge = new FakeBridge({
      images: ALPINE,
      steps: { 'copa: refresh package indexes': refreshed(['libcrypto3', 'libssl3', 'zlib']), 'copa: apk upgrade': installedAfter('alpine-3.20', { libcrypto3: '3.3.2-r1', libssl3: '3.3.2-r1', zlib: '1.3.1-r2' }) },
    });
    const report = trivy([
      ['libcrypto3', '3.3.2-r0', '3.3.2-r1'],
      ['zlib', '1.3.1-r1', '1.3.1-r2'],
      ['busybox', '1.36.1-r29', '1.36.1-r0'], // already fixed
      ['openssl', '3.3.2-r0', '3.3.2-r1'], // not installed (only its subpackages are)
    ]);
    const out = await patchImage(bridge, req('alpine:3.20', report));
    expect(out.kind).toBe('patched');
    expect(out.packages.map((p) => [p.name, p.status, p.finalVersion ?? null])).toEqual([
      ['busybox', 'already-fixed', '1.36.1-r29'],
      ['openssl', 'not-installed', null],
      ['libcrypto3', 'patched', '3.3.2-r1'],
      ['zlib', 'patched', '1.3.1-r2'],
    ]);
    expect(bridge.stepNames()).toEqual([
      'docker-image://docker.io/library/alpine@' + d('a'),
      REFRESH,
      'copa: apk upgrade libcrypto3 zlib',
      'copa: patch layer on the original image',
    ]);
    const x = execs(bridge);
    const refresh = x.get(REFRESH)!;
    expect(refresh.args).toEqual(['sh', '-c', APK_UPDATE.image]);
    // re-run on every patch through its token, not ignore_cache (which would also empty its cache mounts)
    expect(refresh.ignoreCache).toBe(false);
    expect(refresh.env).toContain('COPA_REFRESH=patch-1');
    // the index cache and the status are empty mounts; the image is the root
    expect(refresh.mounts).toEqual([
      { dest: '/', readonly: false, tmpfs: false, selector: '', from: 'docker-image://docker.io/library/alpine@' + d('a') },
      { dest: '/copa-status', readonly: false, tmpfs: false, selector: '', from: null },
      { dest: '/var/cache/apk', readonly: false, tmpfs: false, selector: '', from: null },
    ]);
    const upgrade = x.get('copa: apk upgrade libcrypto3 zlib')!;
    expect(upgrade.args).toEqual(['sh', '-c', APK_UPGRADE.image, 'copa-apk', 'libcrypto3', 'zlib']);
    expect(upgrade.ignoreCache).toBe(false);
    expect(upgrade.env.some((e) => e.startsWith('COPA_REFRESH='))).toBe(false);
    // the refreshed index is mounted over /var/cache/apk, so neither it nor the downloads reach the layer
    expect(upgrade.mounts.map((m) => [m.dest, m.from])).toEqual([['/', 'docker-image://docker.io/library/alpine@' + d('a')], ['/var/cache/apk', REFRESH]]);
    expect(APK_UPGRADE.image).toContain('--cache-dir /var/cache/apk upgrade -- "$@"');
    for (const s of [APK_UPDATE.image, APK_UPGRADE.image, APK_UPGRADE_ALL.image]) expect(s).not.toMatch(/allow-untrusted|force-overwrite|clean-protected|add /);
    expect(out.config.config?.Cmd).toEqual(['/bin/sh']);
    expect(out.config.config?.Labels?.['sh.copa.image.base']).toBe('docker.io/library/alpine@' + d('a'));
  });

  it('update-all: apk upgrade of everything, every changed package reported', async () => {
    const bridge = new FakeBridge({
      images: ALPINE,
      steps: { 'copa: refresh package indexes': refreshed(['busybox', 'zlib']), 'copa: apk upgrade': installedAfter('alpine-3.20', { busybox: '1.36.1-r30', 'busybox-binsh': '1.36.1-r30', zlib: '1.3.1-r2' }) },
    });
    const out = await patchImage(bridge, req('alpine:3.20', null));
    expect(out.kind).toBe('patched');
    expect(out.packages.map((p) => [p.name, p.installedVersion, p.finalVersion])).toEqual([
      ['busybox', '1.36.1-r29', '1.36.1-r30'],
      ['busybox-binsh', '1.36.1-r29', '1.36.1-r30'],
      ['zlib', '1.3.1-r1', '1.3.1-r2'],
    ]);
    expect(bridge.stepNames()).toContain('copa: apk upgrade (all packages)');
    expect(execs(bridge).get('copa: apk upgrade (all packages)')!.args).toEqual(['sh', '-c', APK_UPGRADE_ALL.image]);
  });

  it('update-all with nothing newer: up to date, and no upgrade step at all', async () => {
    const bridge = new FakeBridge({ images: ALPINE, steps: { 'copa: refresh package indexes': refreshed([]) } });
    const logs: string[] = [];
    const out = await patchImage(bridge, req('alpine:3.20', null), (l) => logs.push(l));
    expect(out.kind).toBe('up-to-date');
    expect(out.packages).toEqual([]);
    expect(bridge.stepNames().filter((n) => n.startsWith('copa: apk upgrade'))).toEqual([]);
    expect(logs).toContain('apk: no installed package has a newer release');
  });

  it('a fix the repositories lack fails naming the package and versions; ignore-errors patches the rest', async () => {
    const steps = { 'copa: refresh package indexes': refreshed(['libcrypto3', 'libssl3']), 'copa: apk upgrade': installedAfter('alpine-3.20', { libcrypto3: '3.3.2-r1', libssl3: '3.3.2-r1' }) };
    const report = trivy([['musl', '1.2.5-r0', '1.2.5-r1'], ['libcrypto3', '3.3.2-r0', '3.3.2-r1']]);
    const e = await fails(patchImage(new FakeBridge({ images: ALPINE, steps }), req('alpine:3.20', report)));
    expect(e.category).toBe('validation');
    expect(e.message).toBe('downloaded package musl version 1.2.5-r0 lower than required 1.2.5-r1 for update');
    const out = await patchImage(new FakeBridge({ images: ALPINE, steps }), req('alpine:3.20', report, { ignoreErrors: true }));
    expect(out.kind).toBe('patched');
    expect(out.packages.map((p) => [p.name, p.status])).toEqual([['libcrypto3', 'patched'], ['musl', 'not-patched']]);
  });

  it('only unfixable packages: no upgrade step runs', async () => {
    const bridge = new FakeBridge({ images: ALPINE, steps: { 'copa: refresh package indexes': refreshed(['libcrypto3']) } });
    const e = await fails(patchImage(bridge, req('alpine:3.20', trivy([['musl', '1.2.5-r0', '1.2.5-r1']]))));
    expect(e.message).toMatch(/musl version 1\.2\.5-r0 lower than required 1\.2\.5-r1/);
    expect(bridge.stepNames().filter((n) => n.startsWith('copa: apk upgrade'))).toEqual([]);
  });

  it('an index that cannot be fetched is an error naming the repository and apk\'s words, before anything is installed', async () => {
    const log = 'fetch http://127.0.0.1:1/v3.20/main/x86_64/APKINDEX.tar.gz\nWARNING: updating and opening http://127.0.0.1:1/v3.20/main: could not connect to server (check repositories file)\n1 unavailable, 0 stale; 14 distinct packages available\n';
    for (const report of [null, trivy([['zlib', '1.3.1-r1', '1.3.1-r2']])]) {
      for (const ignoreErrors of [false, true]) {
        const bridge = new FakeBridge({ images: ALPINE, steps: { 'copa: refresh package indexes': refreshed([], 1, log) } });
        const e = await fails(patchImage(bridge, req('alpine:3.20', report, { ignoreErrors })));
        expect(e.category).toBe('image');
        expect(e.message).toBe('apk update in the alpine 3.20.3 image could not fetch the package index from http://127.0.0.1:1/v3.20/main: could not connect to server (check repositories file)');
        expect(bridge.stepNames().filter((n) => n.startsWith('copa: apk upgrade'))).toEqual([]);
      }
    }
  });

  it('a report for another Alpine release is refused', async () => {
    const bridge = new FakeBridge({ images: ALPINE, steps: { 'copa: refresh package indexes': refreshed([]) } });
    const e = await fails(patchImage(bridge, req('alpine:3.20', trivy([['zlib', '1.3.1-r1', '1.3.1-r2']], '3.19.4'))));
    expect(e.category).toBe('report');
    expect(e.message).toMatch(/release 3\.19 vs 3\.20/);
  });

  it('an Alpine image without an apk database is an image error', async () => {
    const bridge = new FakeBridge({ images: { 'docker.io/library/alpine:bare': { digest: d('e'), config: CONFIG, dir: filesDir({ 'etc/os-release': 'ID=alpine\nVERSION_ID=3.20.3\n' }) } } });
    const e = await fails(patchImage(bridge, req('alpine:bare', null)));
    expect(e.category).toBe('image');
    expect(e.message).toBe('the image is alpine 3.20.3 but has no apk database (/lib/apk/db/installed)');
  });
});

describe('apk-less image via the tooling image', () => {
  const images = {
    'docker.io/library/alpine:3.20-static': image('alpine-3.20-static', d('c')),
    'docker.io/library/alpine:3.20': image('alpine-3.20', d('b')),
  };
  const TOOL_REFRESH = 'copa: refresh package indexes (apk update in the tooling image docker.io/library/alpine:3.20)';

  it('report mode: apk --root /target in alpine:<release>, the image mounted at /target, no scripts without a shell', async () => {
    const bridge = new FakeBridge({
      images,
      steps: { 'copa: refresh package indexes': refreshed(['libcrypto3', 'libssl3', 'zlib']), 'copa: apk upgrade': installedAfter('alpine-3.20-static', { libcrypto3: '3.3.2-r1', libssl3: '3.3.2-r1' }) },
    });
    const logs: string[] = [];
    const out = await patchImage(bridge, req('alpine:3.20-static', trivy([['libssl3', '3.3.2-r0', '3.3.2-r1']])), (l) => logs.push(l));
    expect(out.kind).toBe('patched');
    expect(out.packages.map((p) => [p.name, p.status, p.finalVersion])).toEqual([['libssl3', 'patched', '3.3.2-r1']]);
    expect(logs).toContain('apk database: 7 packages (no apk in image: tooling image)');
    expect(bridge.stepNames()).toEqual([
      'docker-image://docker.io/library/alpine@' + d('c'),
      TOOL_REFRESH,
      'copa: apk upgrade libssl3 (into the image)',
      'copa: patch layer on the original image',
    ]);
    const x = execs(bridge);
    const target = 'docker-image://docker.io/library/alpine@' + d('c');
    const tool = 'docker-image://docker.io/library/alpine:3.20';
    expect(x.get(TOOL_REFRESH)!.mounts).toEqual([
      { dest: '/', readonly: false, tmpfs: false, selector: '', from: tool },
      { dest: '/copa-apk-cache', readonly: false, tmpfs: false, selector: '', from: null },
      { dest: '/copa-status', readonly: false, tmpfs: false, selector: '', from: null },
      { dest: '/target', readonly: false, tmpfs: false, selector: '', from: target },
    ]);
    const up = x.get('copa: apk upgrade libssl3 (into the image)')!;
    expect(up.args).toEqual(['sh', '-c', APK_UPGRADE['tooling-no-scripts'], 'copa-apk', 'libssl3']);
    expect(up.mounts.map((m) => [m.dest, m.from])).toEqual([['/', tool], ['/copa-apk-cache', TOOL_REFRESH], ['/target', target]]);
    expect(APK_UPGRADE['tooling-no-scripts']).toContain('apk --root /target --no-progress --no-interactive --cache-dir /copa-apk-cache upgrade --no-scripts -- "$@"');
    // the image's own repositories and keys: nothing points apk at the tooling image's
    for (const s of [APK_UPDATE.tooling, APK_UPGRADE.tooling]) expect(s).not.toMatch(/--keys-dir|--repositories-file|--repository|-X |allow-untrusted/);
    // the patch layer is the /target mount: diff(original, /target after the upgrade)
    const last = bridge.solved.at(-1)!;
    expect(last.evaluate).toBe(true);
  });

  it('update-all uses the tooling rule (alpine:<major.minor>) unless overridden', async () => {
    const steps = { 'copa: refresh package indexes': refreshed(['zlib']), 'copa: apk upgrade': installedAfter('alpine-3.20-static', { zlib: '1.3.1-r2' }) };
    const out = await patchImage(new FakeBridge({ images, steps }), req('alpine:3.20-static', null));
    expect(out.packages.map((p) => p.name)).toEqual(['zlib']);
    const other = new FakeBridge({ images: { ...images, 'my.registry/tools/alpine:3.20': image('alpine-3.20', d('f')) }, steps });
    await patchImage(other, req('alpine:3.20-static', null, { toolingImage: parseImageRef('my.registry/tools/alpine:3.20') }));
    expect(other.stepNames()).toContain('copa: refresh package indexes (apk update in the tooling image my.registry/tools/alpine:3.20)');
    expect(execs(other).get('copa: apk upgrade (all packages, into the image)')!.args).toEqual(['sh', '-c', APK_UPGRADE_ALL['tooling-no-scripts']]);
  });
});

describe('hostile report values never reach a shell', () => {
  it.each(['x;reboot', '$(id)', '`id`', 'a b', 'a\nb', '-X', '--allow-untrusted', '../../etc/passwd', 'lib*', 'zlib|sh'])('%j is refused when the report is read', (name) => {
    expect(() => trivy([[name, '1.0-r0', '1.0-r1']])).toThrow(/not a valid Alpine package name/);
  });

  it.each(['1.0-r1;id', '$(id)', '1.0 -r1', '-r1'])('version %j is refused when the report is read', (version) => {
    expect(() => trivy([['zlib', '1.3.1-r1', version]])).toThrow(/not a valid Alpine package version/);
  });

  it('a valid but unusual name is one argument after "--", never part of the script', async () => {
    const name = 'py3-c_ext+x.y';
    const db = readFileSync(join(FIXTURES, 'alpine-3.20/lib/apk/db/installed'), 'utf8') + `P:${name}\nV:1.0-r0\nA:x86_64\n\n`;
    const dir = filesDir({ 'etc/os-release': readFileSync(join(FIXTURES, 'alpine-3.20/etc/os-release'), 'utf8'), 'lib/apk/db/installed': db, 'sbin/apk': '', 'bin/sh': '' });
    const bridge = new FakeBridge({
      images: { 'docker.io/library/alpine:odd': { digest: d('9'), config: CONFIG, dir } },
      steps: { 'copa: refresh package indexes': refreshed([name]), 'copa: apk upgrade': filesDir({ 'lib/apk/db/installed': db.replace(`P:${name}\nV:1.0-r0`, `P:${name}\nV:1.0-r1`) }) },
    });
    await patchImage(bridge, req('alpine:odd', trivy([[name, '1.0-r0', '1.0-r1']])));
    const up = execs(bridge).get(`copa: apk upgrade ${name}`)!;
    expect(up.args).toEqual(['sh', '-c', APK_UPGRADE.image, 'copa-apk', name]);
    for (const s of Object.values({ ...APK_UPDATE, ...APK_UPGRADE, ...APK_UPGRADE_ALL })) expect(s).not.toContain(name);
  });
});
