import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOpenVex, ociPurl, packagePurl, writeOpenVex, type VexInput } from '../../src/plugin/vex.js';

const DIGEST = 'sha256:' + 'c'.repeat(64);
const input: VexInput = {
  imageName: 'docker.io/library/nginx:1.27-patched',
  digest: DIGEST,
  os: { type: 'debian', version: '12' },
  arch: 'amd64',
  packages: [
    { name: 'openssl', status: 'patched', installedVersion: '3.0.11-1~deb12u1', finalVersion: '3.0.15-1~deb12u1', vulnerabilityIds: ['CVE-2024-2', 'CVE-2024-1'] },
    { name: 'libssl3', status: 'patched', installedVersion: '3.0.11-1~deb12u1', finalVersion: '3.0.15-1~deb12u1', vulnerabilityIds: ['CVE-2024-1'] },
    { name: 'libc6', status: 'already-fixed', installedVersion: '2.36-9+deb12u9', vulnerabilityIds: ['CVE-2024-3'] },
    { name: 'curl', status: 'not-patched', installedVersion: '7.88.1-10', vulnerabilityIds: ['CVE-2024-4'] },
    { name: 'zlib1g', status: 'not-installed', vulnerabilityIds: ['CVE-2024-5'] },
  ],
};
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('purls', () => {
  it('encodes the image and package purls', () => {
    expect(ociPurl('nginx:1.27-patched', DIGEST)).toBe(`pkg:oci/nginx@sha256%3A${'c'.repeat(64)}?repository_url=docker.io/library/nginx`);
    expect(ociPurl('localhost:5000/team/app:1', DIGEST)).toMatch(/^pkg:oci\/app@sha256%3Ac+\?repository_url=localhost%3A5000\/team\/app$/);
    expect(packagePurl(input, 'libstdc++6', '12.2.0-14+deb12u1')).toBe('pkg:deb/debian/libstdc%2B%2B6@12.2.0-14%2Bdeb12u1?arch=amd64&distro=debian-12');
    expect(packagePurl({ os: { type: 'alpine', version: '3.19.1' }, arch: 'arm64' }, 'busybox', '1.36.1-r15')).toBe('pkg:apk/alpine/busybox@1.36.1-r15?arch=arm64&distro=alpine-3.19.1');
    expect(packagePurl({ os: { type: 'cbl-mariner', version: '2.0' }, arch: 'amd64' }, 'openssl', '1.1.1k-28.cm2')).toBe('pkg:rpm/cbl-mariner/openssl@1.1.1k-28.cm2?arch=amd64&distro=cbl-mariner-2.0');
  });
});

describe('buildOpenVex', () => {
  it('states each fixed vulnerability once, for patched packages only', () => {
    const doc = buildOpenVex(input, { timestamp: new Date('2024-05-01T10:00:00Z'), env: {} })!;
    expect(doc['@context']).toBe('https://openvex.dev/ns/v0.2.0');
    expect(doc['@id']).toMatch(/^https:\/\/openvex\.dev\/docs\/public\/vex-[0-9a-f]{64}$/);
    expect(doc.author).toBe('Project Copacetic');
    expect(doc.timestamp).toBe('2024-05-01T10:00:00.000Z');
    expect(doc.version).toBe(1);
    expect(doc.tooling).toMatch(/copa-ts/);
    const product = `pkg:oci/nginx@sha256%3A${'c'.repeat(64)}?repository_url=docker.io/library/nginx`;
    expect(doc.statements).toEqual([
      {
        vulnerability: { '@id': 'CVE-2024-1', name: 'CVE-2024-1' },
        products: [
          {
            '@id': product,
            subcomponents: [
              { '@id': 'pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12' },
              { '@id': 'pkg:deb/debian/openssl@3.0.11-1~deb12u1?arch=amd64&distro=debian-12' },
            ],
          },
        ],
        status: 'fixed',
      },
      {
        vulnerability: { '@id': 'CVE-2024-2', name: 'CVE-2024-2' },
        products: [{ '@id': product, subcomponents: [{ '@id': 'pkg:deb/debian/openssl@3.0.11-1~deb12u1?arch=amd64&distro=debian-12' }] }],
        status: 'fixed',
      },
    ]);
  });

  it('derives the @id from the statements and honours COPA_VEX_AUTHOR', () => {
    const a = buildOpenVex(input, { timestamp: new Date(1), env: {} })!;
    const b = buildOpenVex(input, { timestamp: new Date(2), env: { COPA_VEX_AUTHOR: 'Security Team <sec@example.com>' } })!;
    expect(a['@id']).toBe(b['@id']);
    expect(b.author).toBe('Security Team <sec@example.com>');
    const c = buildOpenVex({ ...input, digest: 'sha256:' + 'd'.repeat(64) }, { env: {} })!;
    expect(c['@id']).not.toBe(a['@id']);
  });

  it('returns null when nothing was fixed', () => {
    expect(buildOpenVex({ ...input, packages: input.packages.filter((p) => p.status !== 'patched') })).toBeNull();
  });
});

describe('writeOpenVex', () => {
  it('writes atomically with mode 0644', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'copa-vex-'));
    dirs.push(dir);
    const path = join(dir, 'out.vex.json');
    const doc = await writeOpenVex(path, input, { env: {} });
    expect(doc).not.toBeNull();
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(doc);
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir)).toEqual(['out.vex.json']); // no temp file left
    await writeOpenVex(path, input, { env: {} }); // overwrite works
    await expect(writeOpenVex(join(dir, 'missing', 'x.json'), input)).rejects.toMatchObject({ message: expect.stringMatching(/cannot write the VEX document/), hint: expect.stringMatching(/--output/) });
  });
});
