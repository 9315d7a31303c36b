// The rpm family's plans over a fake Bridge of real image files (test/fixtures/images/rpm-*):
// which tool runs where, with which arguments and mounts, in which order; what is refused.
// The paths the test bed cannot run (tdnf, yum, microdnf, zypper) are proven only here.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeOp, digestOf, type Definition } from '../../src/llb/index.js';
import { patchImage, type PatchRequest } from '../../src/engine/patch.js';
import { parseReport, type PatchReport } from '../../src/engine/report/index.js';
import { parseImageRef } from '../../src/engine/imageref.js';
import { CopaError } from '../../src/engine/errors.js';
import { FAMILIES } from '../../src/distros/index.js';
import { FakeBridge, filesDir } from './support/fake-bridge.js';
import { execs, fails } from './support/steps.js';
import { inImageInstallScript, refreshScript, toolingInstallScript } from '../../src/distros/rpm/scripts.js';
import { readFileSync } from 'node:fs';

const IMAGES = fileURLToPath(new URL('../fixtures/images', import.meta.url));
const AMD64 = { os: 'linux', architecture: 'amd64' };
const DIGEST = 'sha256:' + 'a'.repeat(64);
const CONFIG = { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: ['sha256:' + '1'.repeat(64)] } };
const img = (dir: string, digest = DIGEST) => ({ digest, config: CONFIG, dir: join(IMAGES, dir) });

function trivy(family: string, version: string, vulns: Array<[string, string, string]>): PatchReport {
  return parseReport(
    JSON.stringify({
      SchemaVersion: 2,
      Metadata: { OS: { Family: family, Name: version } },
      Results: [{ Target: 'x', Class: 'os-pkgs', Type: family, Vulnerabilities: vulns.map(([n, i, f], k) => ({ VulnerabilityID: `CVE-2099-${k}`, PkgName: n, InstalledVersion: i, FixedVersion: f })) }],
    }),
    { source: 'report.json', scanner: 'trivy' },
  );
}

const refreshOk = () => filesDir({ rc: '0\n', 'update.log': 'Metadata cache created.\n' });
/** What rpm -qa leaves after an upgrade: the fixture's real list with some versions raised. */
function queryAfter(tag: string, bumps: Record<string, [string, string]>): string {
  let text = readFileSync(join(IMAGES, 'rpm-query', tag, 'packages'), 'utf8');
  for (const [n, [v, r]] of Object.entries(bumps)) text = text.replace(new RegExp(`^(${n}\\t[^\\t]*\\t)[^\\t]*\\t[^\\t]*\\t`, 'm'), `$1${v}\t${r}\t`);
  return filesDir({ packages: text, rc: '0\n' });
}



const req = (ref: string, report: PatchReport | null, extra: Partial<PatchRequest> = {}): PatchRequest => ({
  image: parseImageRef(ref),
  platform: AMD64,
  report,
  ignoreErrors: false,
  families: FAMILIES,
  refreshToken: 'patch-1',
  ...extra,
});

describe('an image with its own tool (rpm database, rpm, sh)', () => {
  const AL = 'docker.io/library/amazonlinux:2023';
  const bridge = () =>
    new FakeBridge({
      images: { [AL]: img('rpm-amazonlinux-2023') },
      steps: {
        'copa: list installed packages': join(IMAGES, 'rpm-query/amazonlinux-2023'),
        'copa: refresh repository metadata': refreshOk(),
        'copa: dnf upgrade': queryAfter('amazonlinux-2023', { 'curl-minimal': ['8.0.1', '2.amzn2023.0.1'], 'openssl-libs': ['3.0.8', '1.amzn2023.0.5'] }),
      },
    });

  it('report mode: rpm -qa in the image, a fresh refresh, then dnf (preferred over microdnf) upgrading exactly the report\'s names', async () => {
    const b = bridge();
    const report = trivy('amazon', '2023', [
      ['curl-minimal', '8.0.1-1.amzn2023.0.1', '8.0.1-2.amzn2023.0.1'],
      ['openssl-libs', '1:3.0.8-1.amzn2023.0.4', '1:3.0.8-1.amzn2023.0.5'],
      ['not-here', '1-1', '1-2'],
    ]);
    const out = await patchImage(b, req(AL, report));
    expect(out.kind).toBe('patched');
    expect(out.packages.map((p) => [p.name, p.status, p.finalVersion ?? null])).toEqual([
      ['not-here', 'not-installed', null],
      ['curl-minimal', 'patched', '8.0.1-2.amzn2023.0.1'],
      ['openssl-libs', 'patched', '1:3.0.8-1.amzn2023.0.5'],
    ]);
    expect(b.stepNames()).toEqual([
      'docker-image://docker.io/library/amazonlinux@' + DIGEST,
      'copa: list installed packages (rpm -qa in the amazon 2023 image)',
      'copa: refresh repository metadata (dnf in the amazon 2023 image)',
      'copa: dnf upgrade curl-minimal openssl-libs',
      'copa: patch layer on the original image',
    ]);
    const x = execs(b);
    const refresh = x.get('copa: refresh repository metadata (dnf in the amazon 2023 image)')!;
    expect(refresh.ignoreCache).toBe(false);
    expect(refresh.env).toContain('COPA_REFRESH=patch-1');
    expect(refresh.args).toEqual(['sh', '-c', refreshScript('dnf')]);
    const up = x.get('copa: dnf upgrade curl-minimal openssl-libs')!;
    expect(up.args).toEqual(['sh', '-c', inImageInstallScript('dnf', false), 'copa-rpm', 'curl-minimal', 'openssl-libs']);
    expect(up.ignoreCache).toBe(false);
    expect(up.env.some((e) => e.startsWith('COPA_REFRESH='))).toBe(false);
    // The cache the refresh filled, the history database on an empty mount, logs on a tmpfs, results beside the image.
    // (LLB lists mounts sorted by destination.)
    expect(up.mounts.slice(1)).toEqual([
      { dest: '/copa-log', readonly: false, tmpfs: true, selector: '', from: null },
      { dest: '/copa-out', readonly: false, tmpfs: false, selector: '', from: null },
      { dest: '/var/cache/dnf', readonly: false, tmpfs: false, selector: '', from: 'copa: refresh repository metadata (dnf in the amazon 2023 image)' },
      { dest: '/var/lib/dnf', readonly: false, tmpfs: false, selector: '', from: null },
    ]);
  });

  it('update-all: the tool with no names', async () => {
    const b = bridge();
    const out = await patchImage(b, req(AL, null));
    expect(out.packages.map((p) => [p.name, p.installedVersion, p.finalVersion])).toEqual([
      ['curl-minimal', '8.0.1-1.amzn2023.0.1', '8.0.1-2.amzn2023.0.1'],
      ['openssl-libs', '1:3.0.8-1.amzn2023.0.4', '1:3.0.8-1.amzn2023.0.5'],
    ]);
    expect(execs(b).get('copa: dnf upgrade (all packages)')!.args).toEqual(['sh', '-c', inImageInstallScript('dnf', true), 'copa-rpm']);
  });

  it('an unreachable repository stops before anything is installed, naming the URL and dnf\'s words', async () => {
    const url = 'https://al2023-repos.example/core/mirrors/2023/x86_64/mirror.list';
    const b = new FakeBridge({
      images: { [AL]: img('rpm-amazonlinux-2023') },
      steps: {
        'copa: list installed packages': join(IMAGES, 'rpm-query/amazonlinux-2023'),
        'copa: refresh repository metadata': filesDir({ rc: '1\n', 'update.log': `Errors during downloading metadata for repository 'amazonlinux':\n  - Curl error (6): Couldn't resolve host name for ${url} [Could not resolve host: al2023-repos.example]\nError: Failed to download metadata for repo 'amazonlinux': Cannot prepare internal mirrorlist\n` }),
      },
    });
    const e = await fails(patchImage(b, req(AL, null)));
    expect(e.message).toBe(
      `dnf in the amazon 2023 image could not fetch the repository metadata from ${url}: Curl error (6): Couldn't resolve host name for ${url} [Could not resolve host: al2023-repos.example] | Failed to download metadata for repo 'amazonlinux': Cannot prepare internal mirrorlist`,
    );
    expect(b.stepNames().some((n) => n.startsWith('copa: dnf upgrade'))).toBe(false);
  });

  it('Mariner with tdnf: tdnf, its cache and history database kept out', async () => {
    const ref = 'mcr.microsoft.com/cbl-mariner/base/core:2.0';
    const b = new FakeBridge({
      images: { [ref]: img('rpm-cbl-mariner-2.0') },
      steps: {
        'copa: list installed packages': join(IMAGES, 'rpm-query/cbl-mariner-2.0'),
        'copa: refresh repository metadata': refreshOk(),
        'copa: tdnf upgrade': queryAfter('cbl-mariner-2.0', { curl: ['7.76.0', '7.cm2'] }),
      },
    });
    const out = await patchImage(b, req(ref, trivy('cbl-mariner', '2.0', [['curl', '7.76.0-6.cm2', '7.76.0-7.cm2']])));
    expect(out.packages.map((p) => [p.name, p.status])).toEqual([['curl', 'patched']]);
    const up = execs(b).get('copa: tdnf upgrade curl')!;
    expect(up.args).toEqual(['sh', '-c', inImageInstallScript('tdnf', false), 'copa-rpm', 'curl']);
    expect(up.mounts.map((m) => m.dest)).toEqual(['/', '/copa-log', '/copa-out', '/var/cache/tdnf', '/var/lib/tdnf']);
  });
});

describe('distroless Mariner (manifest only) through a tooling image', () => {
  const ref = 'mcr.microsoft.com/cbl-mariner/distroless/base:2.0';
  const tooling = 'mcr.microsoft.com/cbl-mariner/base/core:2.0';
  const manifestAfter = () => {
    const text = readFileSync(join(IMAGES, 'rpm-mariner-2.0-distroless/var/lib/rpmmanifest/container-manifest-2'), 'utf8').replace(/^(openssl-libs\t)1\.1\.1k-15\.cm2/m, '$11.1.1k-16.cm2');
    return filesDir({ 'container-manifest-2': text, packages: '' });
  };

  it('probes the tooling image for its tool (tdnf here), rebuilds the database, upgrades with the image\'s repositories and keys, reads the rewritten manifest', async () => {
    const b = new FakeBridge({
      images: { [ref]: img('rpm-mariner-2.0-distroless'), [tooling]: img('rpm-cbl-mariner-2.0', 'sha256:' + 'b'.repeat(64)) },
      steps: { 'copa: refresh repository metadata': refreshOk(), 'copa: tdnf upgrade': manifestAfter() },
    });
    const out = await patchImage(b, req(ref, trivy('cbl-mariner', '2.0', [['openssl-libs', '1.1.1k-15.cm2', '1.1.1k-16.cm2'], ['glibc', '2.35-2.cm2', '2.35-2.cm2']])));
    expect(out.packages.map((p) => [p.name, p.status, p.finalVersion])).toEqual([
      ['glibc', 'already-fixed', '2.35-2.cm2'],
      ['openssl-libs', 'patched', '1.1.1k-16.cm2'],
    ]);
    expect(b.stepNames()).toEqual([
      'docker-image://mcr.microsoft.com/cbl-mariner/distroless/base@' + DIGEST,
      `docker-image://${tooling}`,
      `copa: refresh repository metadata (tdnf in the tooling image ${tooling})`,
      `copa: tdnf upgrade openssl-libs (into the image)`,
      'copa: patch layer on the original image',
    ]);
    const up = execs(b).get('copa: tdnf upgrade openssl-libs (into the image)')!;
    const opts = { root: true, targetRepos: true, releasever: true, noscripts: true };
    expect(up.args).toEqual(['sh', '-c', toolingInstallScript({ tool: 'tdnf', opts, manifest: true, all: false }), 'copa-rpm', 'openssl-libs']);
    expect(up.env).toEqual(expect.arrayContaining(['COPA_DBPATH=/var/lib/rpm', 'COPA_RELEASEVER=2.0']));
    expect(up.mounts.find((m) => m.dest === '/target')!.from).toBe('docker-image://mcr.microsoft.com/cbl-mariner/distroless/base@' + DIGEST);
    // The image's keys over the tooling image's (its repo files name file:///etc/pki/rpm-gpg/…).
    expect(up.mounts.find((m) => m.dest === '/etc/pki/rpm-gpg')).toMatchObject({ readonly: true, selector: '/etc/pki/rpm-gpg' });
    expect(up.mounts.find((m) => m.dest === '/copa-in')!.from).toBe('copa: inputs of the rpm step');
    expect(out.kind).toBe('patched');
  });

  it('a tooling image without tdnf/dnf/yum/microdnf is refused by name', async () => {
    const b = new FakeBridge({ images: { [ref]: img('rpm-mariner-2.0-distroless'), [tooling]: img('rpm-rhel-8', 'sha256:' + 'c'.repeat(64)) } });
    const e = await fails(patchImage(b, req(ref, null)));
    expect(e.message).toBe(`the tooling image ${tooling} has no tdnf, dnf, yum or microdnf, so it cannot patch this cbl-mariner 2.0 image`);
  });

  it('a database image without tools is read with the tooling image\'s rpm --root, and the tooling image upgrades into it (no --releasever: its database tells)', async () => {
    const rhel = 'registry.access.redhat.com/ubi8-micro:8.8';
    const b = new FakeBridge({
      images: { [rhel]: img('rpm-rhel-8'), 'docker.io/library/almalinux:8': img('rpm-tooling', 'sha256:' + 'd'.repeat(64)) },
      steps: {
        'copa: list installed packages': join(IMAGES, 'rpm-query/rhel-8'),
        'copa: refresh repository metadata': refreshOk(),
        'copa: dnf upgrade': filesDir({ packages: 'libuuid\t(none)\t2.32.1\t44.el8\tx86_64\n' }),
      },
    });
    const out = await patchImage(b, req(rhel, trivy('redhat', '8.8', [['libuuid', '2.32.1-42.el8_8', '2.32.1-44.el8']]), { toolingImage: parseImageRef('almalinux:8') }));
    expect(out.packages.map((p) => [p.name, p.status, p.finalVersion])).toEqual([['libuuid', 'patched', '2.32.1-44.el8']]);
    const x = execs(b);
    expect(x.get('copa: list installed packages (rpm --root of the tooling image docker.io/library/almalinux:8)')!.env).toContain('COPA_DBPATH=/var/lib/rpm');
    const up = x.get('copa: dnf upgrade libuuid (into the image)')!;
    expect(up.args[2]).toBe(toolingInstallScript({ tool: 'dnf', opts: { root: true, targetRepos: false, releasever: false, noscripts: true }, manifest: false, all: false }));
    expect(up.env.some((e) => e.startsWith('COPA_RELEASEVER='))).toBe(false);
  });
});

describe('detection', () => {
  it('an RPM distribution without database or manifest is an error saying what is missing', async () => {
    const b = new FakeBridge({ images: { 'docker.io/library/x:1': { digest: DIGEST, config: CONFIG, dir: filesDir({ 'etc/os-release': 'ID=rocky\nVERSION_ID="9.3"\n' }) } } });
    const e = await fails(patchImage(b, req('x:1', null)));
    expect(e.message).toMatch(/^the image is rocky 9\.3 but has no rpm database \(\/var\/lib\/rpm\/\{rpmdb\.sqlite,Packages\.db,Packages\}, .*\) and no \/var\/lib\/rpmmanifest\/container-manifest-2$/);
  });
  it.each([
    ['azurelinux', '3.0'],
    ['mariner', '2.0'],
    ['centos', '7'],
    ['rocky', '9.3'],
    ['almalinux', '9.3'],
    ['ol', '8.9'],
    ['rhel', '9.4'],
    ['amzn', '2023'],
    ['photon', '5.0'],
    ['sles', '15.5'],
    ['opensuse-leap', '15.6'],
    ['opensuse-tumbleweed', '20240101'],
  ])('ID=%s is patched by the rpm family', async (id, version) => {
    const b = new FakeBridge({ images: { 'docker.io/library/x:1': { digest: DIGEST, config: CONFIG, dir: filesDir({ 'etc/os-release': `ID=${id}\nVERSION_ID="${version}"\n` }) } } });
    // No database: the rpm family's own error, so the family was chosen.
    expect((await fails(patchImage(b, req('x:1', null)))).message).toMatch(/but has no rpm database/);
  });
});
