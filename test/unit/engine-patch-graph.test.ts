// The whole patch pipeline over a fake Bridge of real image files: which steps run, in
// which order, and the exact LLB of the patched image. The digests are pinned: a refactor
// of the engine or a family must not change them, or users' BuildKit caches go cold.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encodeDefinition, digestOf } from '../../src/llb/index.js';
import { patchImage, type PatchRequest } from '../../src/engine/patch.js';
import type { PatchReport } from '../../src/engine/report/index.js';
import { parseReport } from '../../src/engine/report/index.js';
import { FakeBridge, aptUpdateOk } from './support/fake-bridge.js';
import { execs } from './support/steps.js';
import { FAMILIES } from '../../src/distros/index.js';
import { parseImageRef } from '../../src/engine/imageref.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/images', import.meta.url));
const AMD64 = { os: 'linux', architecture: 'amd64' };
const DIGEST = 'sha256:' + 'a'.repeat(64);
const CONFIG = { architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['bash'] }, rootfs: { type: 'layers', diff_ids: ['sha256:' + '1'.repeat(64)] } };

function trivy(vulns: Array<[string, string, string]>) {
  return parseReport(
    JSON.stringify({
      SchemaVersion: 2,
      ArtifactName: 'debian:12',
      Metadata: { OS: { Family: 'debian', Name: '12.11' } },
      Results: [{ Target: 'debian', Class: 'os-pkgs', Type: 'debian', Vulnerabilities: vulns.map(([n, i, f], k) => ({ VulnerabilityID: `CVE-2025-${1000 + k}`, PkgName: n, InstalledVersion: i, FixedVersion: f })) }],
    }),
    { source: 'report.json', scanner: 'trivy' },
  );
}

/** A status file where the named packages carry new versions: what the install step leaves. */
function statusAfter(bumps: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'copa-fake-'));
  let text = readFileSync(join(FIXTURES, 'debian-12/var/lib/dpkg/status'), 'utf8');
  for (const [name, v] of Object.entries(bumps)) {
    text = text.replace(new RegExp(`(Package: ${name}\\n(?:.+\\n)*?Version: ).+`), `$1${v}`);
  }
  mkdirSync(join(dir, 'var/lib/dpkg'), { recursive: true });
  writeFileSync(join(dir, 'var/lib/dpkg/status'), text);
  return dir;
}

/** A patch request; the refresh token is pinned so the LLB digests are too. */
function req(image: string, report: PatchReport | null): PatchRequest {
  return { image: parseImageRef(image), platform: AMD64, report, ignoreErrors: false, families: FAMILIES, refreshToken: 'patch-1' };
}

/** debian:12 with apt, where `apt-get upgrade` raises libsystemd0. */
function aptUpgradeBridge(): FakeBridge {
  return new FakeBridge({
    images: { 'docker.io/library/debian:12': { digest: DIGEST, config: CONFIG, dir: join(FIXTURES, 'debian-12') } },
    steps: { 'copa: refresh package lists': aptUpdateOk(), 'copa: apt-get upgrade': statusAfter({ libsystemd0: '252.40-1~deb12u1' }) },
  });
}

function finalDigest(bridge: FakeBridge): string {
  const last = bridge.solved.filter((s) => s.evaluate).at(-1);
  if (!last) throw new Error('nothing was solved for export');
  return digestOf(encodeDefinition(last.def));
}

describe('patch pipeline over a fake bridge (pinned LLB)', () => {
  it('debian 12 with apt, report mode: one apt install of exactly the report packages', async () => {
    const bridge = new FakeBridge({
      images: { 'docker.io/library/debian:12': { digest: DIGEST, config: CONFIG, dir: join(FIXTURES, 'debian-12') } },
      steps: { 'copa: refresh package lists': aptUpdateOk(), 'copa: apt-get install': statusAfter({ libc6: '2.36-9+deb12u15', zlib1g: '1:1.2.13.dfsg-1+deb12u1' }) },
    });
    const report = trivy([
      ['libc6', '2.36-9+deb12u14', '2.36-9+deb12u15'],
      ['zlib1g', '1:1.2.13.dfsg-1', '1:1.2.13.dfsg-1+deb12u1'],
      ['tzdata', '2026b-0+deb12u1', '2025a-0+deb12u1'],
      ['not-here', '1.0', '1.1'],
    ]);
    const out = await patchImage(bridge, req('debian:12', report));
    expect(out.kind).toBe('patched');
    expect(out.packages.map((p) => [p.name, p.status, p.finalVersion ?? null])).toEqual([
      ['not-here', 'not-installed', null],
      ['tzdata', 'already-fixed', '2026b-0+deb12u1'],
      ['libc6', 'patched', '2.36-9+deb12u15'],
      ['zlib1g', 'patched', '1:1.2.13.dfsg-1+deb12u1'],
    ]);
    expect(bridge.stepNames()).toEqual([
      'docker-image://docker.io/library/debian@' + DIGEST,
      'copa: refresh package lists (apt-get update in the debian 12 image)',
      'copa: apt-get install --only-upgrade libc6 zlib1g',
      'copa: patch layer on the original image',
    ]);
    expect(out.config.config?.Labels).toEqual({ 'sh.copa.image.base': 'docker.io/library/debian@' + DIGEST, 'sh.copa.image.patched': 'copa-ts' });
    expect(finalDigest(bridge)).toBe(PINNED.aptReport);
  });

  it('debian 12 with apt, no report: apt-get upgrade', async () => {
    const bridge = aptUpgradeBridge();
    const out = await patchImage(bridge, req('debian:12', null));
    expect(out.kind).toBe('patched');
    expect(out.packages.map((p) => [p.name, p.installedVersion, p.finalVersion])).toEqual([['libsystemd0', '252.39-1~deb12u2', '252.40-1~deb12u1']]);
    expect(finalDigest(bridge)).toBe(PINNED.aptAll);
  });

  it('every patch refreshes the lists: a new token per patch (never ignore_cache, which would empty the lists cache mount)', async () => {
    const run = async (refreshToken?: string) => {
      const bridge = aptUpgradeBridge();
      await patchImage(bridge, { ...req('debian:12', null), refreshToken });
      const refresh = [...execs(bridge).values()].find((e) => e.args.join(' ').includes('update >/copa-status/update.log'))!;
      return { digest: finalDigest(bridge), refresh };
    };
    const [a, b] = [await run(), await run()];
    expect(a.digest).not.toBe(b.digest);
    expect(a.refresh.ignoreCache).toBe(false);
    expect(a.refresh.env.find((e) => e.startsWith('COPA_REFRESH='))).not.toBe(b.refresh.env.find((e) => e.startsWith('COPA_REFRESH=')));
    expect(a.refresh.mounts.map((m) => m.dest)).toContain('/copa-lists-cache');
    expect((await run('t')).digest).toBe((await run('t')).digest);
  });

  it('debian 12 distroless (status.d), report mode: the tooling image downloads and unpacks', async () => {
    const fetched = mkdtempSync(join(tmpdir(), 'copa-fake-'));
    const deb = 'libssl3_3.0.20-1~deb12u3_amd64.deb';
    mkdirSync(join(fetched, 'debs'), { recursive: true });
    mkdirSync(join(fetched, 'meta', deb), { recursive: true });
    writeFileSync(join(fetched, 'debs', deb), '');
    writeFileSync(join(fetched, 'failed'), '');
    const control = readFileSync(join(FIXTURES, 'debian-12-distroless/var/lib/dpkg/status.d/libssl3'), 'utf8')
      .replace(/^Version: .*$/m, 'Version: 3.0.20-1~deb12u3')
      .replace(/^Status: .*\n/m, '');
    writeFileSync(join(fetched, 'meta', deb, 'control'), control);
    writeFileSync(join(fetched, 'meta', deb, 'md5sums'), 'd41d8cd98f00b204e9800998ecf8427e  usr/lib/x86_64-linux-gnu/libssl.so.3\n');
    const bridge = new FakeBridge({
      images: {
        'docker.io/library/debian:12-distroless': { digest: DIGEST, config: CONFIG, dir: join(FIXTURES, 'debian-12-distroless') },
        'docker.io/library/debian:12-slim': { digest: 'sha256:' + 'b'.repeat(64), config: CONFIG, dir: join(FIXTURES, 'debian-12') },
      },
      steps: { 'copa: refresh package lists': aptUpdateOk(), 'copa: download': fetched },
    });
    const report = trivy([['libssl3', '3.0.20-1~deb12u2', '3.0.20-1~deb12u3']]);
    const out = await patchImage(bridge, req('debian:12-distroless', report));
    expect(out.kind).toBe('patched');
    expect(out.packages.map((p) => [p.name, p.status, p.finalVersion])).toEqual([['libssl3', 'patched', '3.0.20-1~deb12u3']]);
    expect(bridge.stepNames()).toEqual([
      'docker-image://docker.io/library/debian@' + DIGEST,
      'copa: refresh package lists (apt-get update in the tooling image docker.io/library/debian:12-slim)',
      'copa: download libssl3',
      'copa: patch layer on the original image',
    ]);
    expect(finalDigest(bridge)).toBe(PINNED.distrolessReport);
  });
});

// Pinned before the package-manager contract refactor, which left them unchanged; changed since,
// on purpose: the apt-get update step gained its /copa-status mount (an unreachable source is an
// error, not "up to date"), then apt's speed options and the lists cache mount, then the
// refresh's per-patch token in place of ignore_cache (which emptied that cache mount every time),
// then apt-get update without its closing cache build (pkgCacheFile::Generate=false), then
// gzip indexes for the update.
const PINNED = {
  aptReport: 'sha256:f3e47796e5181f567e93a7e749c4a000e1d3bd531f2046bdfd0f0cad4084f5a5',
  aptAll: 'sha256:8c9f03ed8166b17271686ff9a460ec4a65b10b8a47701d9c67e354c87e1f5bd4',
  distrolessReport: 'sha256:340e4d0272f2486b2a71fa5bf8c1ec633f23f4b6b9bc49629f82e87f66d370a1',
};
