// Ways the engine used to publish a wrong image with exit 0, over a fake Bridge of real
// image files: a platform the image lacks, a report for another platform or distribution,
// a re-patch label it cannot prove, package lists that could not be fetched.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { patchImage, type PatchRequest } from '../../src/engine/patch.js';
import { CopaError } from '../../src/engine/errors.js';
import { parseReport, type PatchReport } from '../../src/engine/report/index.js';
import { PATCH_LAYER_COMMENT } from '../../src/engine/provenance.js';
import { FAMILIES } from '../../src/distros/index.js';
import { parseImageRef } from '../../src/engine/imageref.js';
import type { ImageConfig } from '../../src/engine/bridge.js';
import { FakeBridge, aptUpdateOk, filesDir, type FakeImage } from './support/fake-bridge.js';
import { fails } from './support/steps.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/images', import.meta.url));
const DEBIAN = join(FIXTURES, 'debian-12');
const AMD64 = { os: 'linux', architecture: 'amd64' };
const d = (c: string) => 'sha256:' + c.repeat(64);
const layer = (c: string) => 'sha256:' + c.repeat(64);

function config(diffIds: string[], extra: Partial<ImageConfig> = {}): ImageConfig {
  return { architecture: 'amd64', os: 'linux', config: { Cmd: ['bash'] }, rootfs: { type: 'layers', diff_ids: diffIds }, history: diffIds.map((_, i) => ({ created_by: `layer ${i}` })), ...extra };
}

function trivy(family: string, version: string, vulns: Array<[string, string, string]>, arch?: string): PatchReport {
  return parseReport(
    JSON.stringify({
      SchemaVersion: 2,
      ArtifactName: 'img',
      Metadata: { OS: { Family: family, Name: version }, ...(arch ? { ImageConfig: { architecture: arch } } : {}) },
      Results: [{ Target: 't', Class: 'os-pkgs', Type: family, Vulnerabilities: vulns.map(([n, i, f], k) => ({ VulnerabilityID: `CVE-2025-${k + 1}`, PkgName: n, InstalledVersion: i, FixedVersion: f })) }],
    }),
    { source: 'report.json', scanner: 'trivy' },
  );
}

const LIBC = trivy('debian', '12.11', [['libc6', '2.36-9+deb12u14', '2.36-9+deb12u15']]);

function bridgeWith(images: Record<string, FakeImage>, steps: Record<string, string> = {}) {
  return new FakeBridge({ images, steps: { 'copa: refresh package lists': aptUpdateOk(), ...steps } });
}

function req(image: string, report: PatchReport | null, extra: Partial<PatchRequest> = {}): PatchRequest {
  return { image: parseImageRef(image), platform: AMD64, report, ignoreErrors: false, families: FAMILIES, ...extra };
}


describe('platforms', () => {
  const images = { 'docker.io/library/debian:12': { digest: d('a'), config: config([layer('1')]), dir: DEBIAN } };

  it.each([
    [{ os: 'linux', architecture: 'arm64' }, 'linux/arm64'],
    [{ os: 'linux', architecture: 's390x' }, 'linux/s390x'],
    [{ os: 'linux', architecture: '386' }, 'linux/386'],
  ])('a platform the image lacks is an error naming its platforms (%j)', async (platform, name) => {
    const bridge = bridgeWith(images);
    const e = await fails(patchImage(bridge, req('debian:12', null, { platform })));
    expect(e.category).toBe('image');
    expect(e.message).toBe(`docker.io/library/debian:12 has no ${name} image; its platforms: linux/amd64`);
    expect(bridge.solved).toEqual([]); // nothing was built
  });

  it('a report scanned from another platform is an error', async () => {
    const bridge = bridgeWith(images);
    const e = await fails(patchImage(bridge, req('debian:12', trivy('debian', '12.11', [['libc6', '2.36-9+deb12u14', '2.36-9+deb12u15']], 'arm64'))));
    expect(e.category).toBe('report');
    expect(e.message).toContain('was scanned from a linux/arm64 image (architecture "arm64"), but the platform being patched is linux/amd64');
    expect(bridge.solved).toEqual([]);
  });

  it('a report of the same platform in another spelling passes, and the config says what was solved', async () => {
    const bridge = bridgeWith(images, { 'copa: apt-get install': filesDir({ 'var/lib/dpkg/status': patchedStatus() }) });
    const out = await patchImage(bridge, req('debian:12', trivy('debian', '12.11', [['libc6', '2.36-9+deb12u14', '2.36-9+deb12u15']], 'x86_64')));
    expect(out.kind).toBe('patched');
    expect([out.config.os, out.config.architecture, out.config.variant]).toEqual(['linux', 'amd64', undefined]);
  });
});

import { readFileSync } from 'node:fs';
function patchedStatus(): string {
  return readFileSync(join(DEBIAN, 'var/lib/dpkg/status'), 'utf8').replace(/(Package: libc6\n(?:.+\n)*?Version: ).+/, '$12.36-9+deb12u15');
}

describe('the re-patch label is proven, never trusted', () => {
  const orig = { digest: d('a'), config: config([layer('1')]), dir: DEBIAN };
  const steps = { 'copa: apt-get install': filesDir({ 'var/lib/dpkg/status': patchedStatus() }) };
  const labelled = (diffIds: string[], history: Array<Record<string, unknown>>, label = 'sh.copa.image.base', value = `docker.io/library/debian@${d('a')}`, extra: Record<string, unknown> = {}) => ({
    digest: d('c'),
    config: { ...config(diffIds), history, config: { Cmd: ['/app'], User: 'app', Entrypoint: ['/entry'], Labels: { [label]: value }, ...extra } },
    dir: DEBIAN,
  });

  it('an image built FROM a patched base (more layers) is patched as it is, on top', async () => {
    const logs: string[] = [];
    const img = labelled([layer('1'), layer('2'), layer('3')], [{ created_by: 'a' }, { created_by: 'copa', comment: PATCH_LAYER_COMMENT }, { created_by: 'RUN make', comment: 'buildkit.dockerfile.v0' }]);
    const bridge = bridgeWith({ 'docker.io/library/debian:12': orig, 'docker.io/library/app:1': img }, steps);
    const out = await patchImage(bridge, req('app:1', LIBC), (l) => logs.push(l));
    expect(bridge.stepNames()[0]).toBe(`docker-image://docker.io/library/app@${d('c')}`); // its own layers, not the labelled image
    expect(out.base).toBe(`docker.io/library/app@${d('c')}`);
    expect(out.config.config?.Entrypoint).toEqual(['/entry']);
    expect(out.config.config?.User).toBe('app');
    expect(out.config.config?.Labels?.['sh.copa.image.base']).toBe(`docker.io/library/app@${d('c')}`);
    expect(logs.join('\n')).toContain("are not the original's 1 layers plus one patch layer");
  });

  it('a label set by hand on a one-layer-more image without our history mark is not a re-patch', async () => {
    const img = labelled([layer('1'), layer('9')], [{ created_by: 'a' }, { created_by: 'RUN x', comment: 'buildkit.dockerfile.v0' }]);
    const bridge = bridgeWith({ 'docker.io/library/debian:12': orig, 'docker.io/library/app:1': img }, steps);
    const out = await patchImage(bridge, req('app:1', LIBC));
    expect(out.base).toBe(`docker.io/library/app@${d('c')}`);
  });

  it("a label whose original has other layers (or another digest) is not a re-patch", async () => {
    const img = labelled([layer('7'), layer('8')], [{ created_by: 'a' }, { created_by: 'copa', comment: PATCH_LAYER_COMMENT }]);
    const bridge = bridgeWith({ 'docker.io/library/debian:12': orig, 'docker.io/library/app:1': img }, steps);
    expect((await patchImage(bridge, req('app:1', LIBC))).base).toBe(`docker.io/library/app@${d('c')}`);
  });

  it('our own output (original layers + one marked patch layer) re-patches from the original, keeping its config', async () => {
    const img = labelled([layer('1'), layer('2')], [{ created_by: 'layer 0' }, { created_by: 'copa-ts: OS package patch layer', comment: PATCH_LAYER_COMMENT }]);
    const bridge = bridgeWith({ 'docker.io/library/debian:12': orig, 'docker.io/library/app:1': img }, steps);
    const out = await patchImage(bridge, req('app:1', LIBC));
    expect(out.base).toBe(`docker.io/library/debian@${d('a')}`);
    expect(bridge.stepNames()[0]).toBe(`docker-image://docker.io/library/debian@${d('a')}`);
    expect(out.config.config?.Entrypoint).toEqual(['/entry']);
    // One history entry per layer: the original's, then exactly one patch entry.
    expect(out.config.history?.map((h) => h['comment'] ?? h['created_by'])).toEqual(['layer 0', PATCH_LAYER_COMMENT]);
  });

  it("Copacetic's BaseImage label counts when the layers are the original's plus one", async () => {
    const img = labelled([layer('1'), layer('2')], [{ created_by: 'a' }, { created_by: 'copa' }], 'BaseImage', 'docker.io/library/debian:12');
    const bridge = bridgeWith({ 'docker.io/library/debian:12': orig, 'docker.io/library/app:1': img }, steps);
    expect((await patchImage(bridge, req('app:1', LIBC))).base).toBe(`docker.io/library/debian@${d('a')}`);
    const img2 = labelled([layer('1'), layer('2'), layer('3')], [], 'BaseImage', 'docker.io/library/debian:12');
    const bridge2 = bridgeWith({ 'docker.io/library/debian:12': orig, 'docker.io/library/app:1': img2 }, steps);
    expect((await patchImage(bridge2, req('app:1', LIBC))).base).toBe(`docker.io/library/app@${d('c')}`);
  });

  it('every patch marks its layer', async () => {
    const bridge = bridgeWith({ 'docker.io/library/debian:12': orig }, steps);
    const out = await patchImage(bridge, req('debian:12', LIBC));
    expect(out.config.history?.at(-1)).toEqual({ created_by: 'copa-ts: OS package patch layer', comment: PATCH_LAYER_COMMENT });
  });
});

describe('package lists that cannot be fetched', () => {
  const images = { 'docker.io/library/debian:12': { digest: d('a'), config: config([layer('1')]), dir: DEBIAN } };
  const dead = filesDir({
    rc: '0\n',
    'update.log': [
      'Err:1 http://127.0.0.1:9/debian bookworm InRelease',
      '  Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)',
      'Reading package lists...',
      'W: Failed to fetch http://127.0.0.1:9/debian/dists/bookworm/InRelease  Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)',
      'W: Some index files failed to download. They have been ignored, or old ones used instead.',
    ].join('\n'),
  });

  it.each([
    ['update-all', null, false],
    ['a report', LIBC, false],
    ['a report with --ignore-errors', LIBC, true],
  ] as const)('%s: an error naming the source and apt\'s message, never "up to date"', async (_what, report, ignoreErrors) => {
    const bridge = new FakeBridge({ images, steps: { 'copa: refresh package lists': dead } });
    const e = await fails(patchImage(bridge, req('debian:12', report, { ignoreErrors })));
    expect(e.message).toBe(
      'apt-get update in the debian 12 image could not fetch the package lists from http://127.0.0.1:9/debian/dists/bookworm/InRelease: Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)',
    );
    expect(e.hint).toContain('apt sources');
    expect(bridge.stepNames().some((n) => n.startsWith('copa: apt-get'))).toBe(false);
  });

  it('a failed apt-get update without "Failed to fetch" lines is an error too', async () => {
    const bridge = new FakeBridge({ images, steps: { 'copa: refresh package lists': filesDir({ rc: '100\n', 'update.log': "E: The repository 'http://x/debian bookworm Release' does not have a Release file.\n" }) } });
    const e = await fails(patchImage(bridge, req('debian:12', null)));
    expect(e.message).toContain("does not have a Release file");
  });
});

describe('reports for something else', () => {
  const images = { 'docker.io/library/debian:12': { digest: d('a'), config: config([layer('1')]), dir: DEBIAN } };

  it('an Alpine report on a Debian image names both', async () => {
    const e = await fails(patchImage(bridgeWith(images), req('debian:12', trivy('alpine', '3.20.3', [['libcrypto3', '3.3.2-r0', '3.3.2-r1']]))));
    expect(e.category).toBe('report');
    expect(e.message).toBe('report.json is a report for alpine 3.20.3, but the image runs debian 12');
  });

  it('a sid report on a bookworm image is refused', async () => {
    const e = await fails(patchImage(bridgeWith(images), req('debian:12', trivy('debian', 'sid', [['libc6', '2.36-9+deb12u14', '2.36-9+deb12u15']]))));
    expect(e.message).toContain('(release sid vs 12)');
  });

  it('"name:arch" in a report patches the package, not "removed by the upgrade"', async () => {
    const bridge = bridgeWith(images, { 'copa: apt-get install': filesDir({ 'var/lib/dpkg/status': patchedStatus() }) });
    const out = await patchImage(bridge, req('debian:12', trivy('debian', '12.11', [['libc6:amd64', '2.36-9+deb12u14', '2.36-9+deb12u15']])));
    expect(out.packages.map((p) => [p.name, p.status])).toEqual([['libc6', 'patched']]);
    expect(bridge.stepNames()).toContain('copa: apt-get install --only-upgrade libc6');
  });
});

