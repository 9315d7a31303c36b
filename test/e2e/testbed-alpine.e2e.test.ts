// Proves the test bed's Alpine world: the alpine:* images exist with the right
// platforms and contents (BuildKit can pull each one, per platform), and the
// local APK repository serves a signed index whose entries match the .apk files
// -- checked here with our own code and, inside BuildKit, by Alpine's own apk.
import { createHash, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  apkRepoBranch,
  apkVersions,
  fetchConfig,
  fetchRawManifest,
  fileExistsInImage,
  listLayers,
  parseTar,
  readFileFromImage,
  registryRef,
  runBuildctl,
  testbed,
  TESTBED_ALPINE_IMAGES,
  type ImageIndex,
} from '../env/testbed.js';

/** Compressed gzip members of a concatenation (an .apk or APKINDEX.tar.gz). */
function gzipMembers(buf: Buffer): Buffer[] {
  const magic = Buffer.from([0x1f, 0x8b, 0x08]);
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    let end = -1;
    for (let i = buf.indexOf(magic, off + 18); ; i = buf.indexOf(magic, i + 1)) {
      const cut = i < 0 ? buf.length : i;
      try {
        gunzipSync(buf.subarray(off, cut));
        end = cut;
        break;
      } catch {
        if (i < 0) break;
      }
    }
    if (end < 0) throw new Error(`no complete gzip member at ${off}`);
    out.push(buf.subarray(off, end));
    off = end;
  }
  return out;
}

async function get(url: string): Promise<Buffer> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** Signature member -> [name, bytes] of its one .SIGN.RSA.* entry. */
function signature(member: Buffer): [string, Buffer] {
  const entries = parseTar(gunzipSync(member));
  expect(entries).toHaveLength(1);
  return [entries[0]!.path, entries[0]!.entry.content!];
}

/** Build with BuildKit, export /out of the last stage to a local dir; returns that dir. */
async function buildctlDockerfile(dockerfile: string, platforms?: string): Promise<{ dir: string; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'copa-alpine-bed-'));
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  const res = await runBuildctl([
    'build', '--frontend', 'dockerfile.v0',
    '--local', `context=${dir}`, '--local', `dockerfile=${dir}`,
    ...(platforms ? ['--opt', `platform=${platforms}`] : []),
    '--output', `type=local,dest=${join(dir, 'out')}`,
  ]);
  if (res.code !== 0) throw new Error(`buildctl failed (exit ${res.code}):\n${res.stderr.slice(-4000)}`);
  return { dir, out: join(dir, 'out') };
}

describe('test bed: Alpine world', () => {
  it('has every alpine image in env.json and the registry, with the right platforms', async () => {
    const tb = testbed();
    for (const name of TESTBED_ALPINE_IMAGES) {
      expect(tb.images[name], name).toBe(registryRef(name));
      const raw = await fetchRawManifest(registryRef(name));
      if (name === 'alpine:3.20-multi') {
        const idx = raw as ImageIndex;
        expect(idx.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}`).sort()).toEqual(['linux/386', 'linux/amd64']);
        const x86 = await fetchConfig(registryRef(name), { architecture: '386' });
        expect(x86.architecture).toBe('386');
        expect((await readFileFromImage(`${registryRef(name)}`, '/etc/alpine-release')).toString().trim()).toBe('3.20.3');
      } else {
        expect('manifests' in raw, name).toBe(false);
        expect((await fetchConfig(registryRef(name))).architecture).toBe('amd64');
      }
      const layers = await listLayers(registryRef(name));
      expect(layers).toHaveLength(1);
      expect(layers[0]!.mediaType).toMatch(/tar\+gzip$/);
    }
    const nonroot = (await fetchConfig(registryRef('alpine:3.20-nonroot'))).config;
    expect(nonroot).toMatchObject({ User: 'nobody', WorkingDir: '/srv', Entrypoint: ['/usr/bin/env'], Cmd: ['cat', '/etc/alpine-release'] });
    expect(nonroot.Labels).toMatchObject({ 'org.example.keep': 'yes' });
    expect(await listLayers(registryRef('alpine:3.20-nonroot'))).toEqual(await listLayers(registryRef('alpine:3.20-pointrelease')));
  });

  it('images trust the bed key and list only the local repository', async () => {
    const { apkRepo } = testbed();
    const pub = readFileSync(apkRepo.publicKeyPath, 'utf8');
    for (const [name, branch] of [['alpine:3.20-pointrelease', 'v3.20'], ['alpine:3.19-pointrelease', 'v3.19'], ['alpine:3.20-static', 'v3.20'], ['alpine:3.20', 'v3.20']] as const) {
      const ref = registryRef(name);
      expect((await readFileFromImage(ref, '/etc/apk/repositories')).toString(), name).toBe(`${apkRepo.repositories[branch]}\n`);
      expect((await readFileFromImage(ref, `/etc/apk/keys/${apkRepo.keyName}`)).toString(), name).toBe(pub);
      expect(await fileExistsInImage(ref, '/etc/apk/keys/alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub'), name).toBe(true);
    }
    const cnf = (await readFileFromImage(registryRef('alpine:3.20-pointrelease'), '/etc/ssl/openssl.cnf')).toString();
    expect(cnf.trimEnd().split('\n').at(-1)).toBe('# copa-testbed: local edit, kept across upgrades');
    expect((await readFileFromImage(registryRef('alpine:3.20'), '/etc/ssl/openssl.cnf')).toString()).not.toContain('copa-testbed');
  });

  it('alpine:3.20-static has an apk database but no apk, busybox or shell', async () => {
    const ref = registryRef('alpine:3.20-static');
    for (const p of ['/sbin/apk', '/bin/busybox', '/bin/sh', '/bin/ash', '/usr/bin/env']) expect(await fileExistsInImage(ref, p), p).toBe(false);
    const versions = await apkVersions(ref);
    expect([...versions.keys()].sort()).toEqual(['alpine-baselayout-data', 'alpine-keys', 'ca-certificates-bundle', 'libcrypto3', 'libssl3', 'musl', 'zlib']);
    expect(versions.get('libcrypto3')).toBe('3.3.2-r0');
    expect(await fileExistsInImage(ref, '/lib/libcrypto.so.3')).toBe(true);
    expect((await readFileFromImage(ref, '/etc/apk/world')).toString()).not.toMatch(/apk-tools|busybox/);
  });

  it('the repository serves a signed index whose entries match the packages', async () => {
    const { apkRepo } = testbed();
    const pub = readFileSync(apkRepo.publicKeyPath);
    expect(JSON.parse(readFileSync(apkRepo.packagesFile, 'utf8')).repos).toEqual(apkRepo.repos);
    for (const [branch, arch] of [['v3.20', 'x86_64'], ['v3.20', 'x86'], ['v3.19', 'x86_64']] as const) {
      const b = apkRepoBranch(branch, arch);
      expect(b.packages.map((p) => p.name)).toEqual(expect.arrayContaining(['libcrypto3', 'libssl3', 'zlib', 'busybox', 'ca-certificates-bundle']));
      expect(b.unchanged.map((p) => p.name)).toContain('musl');
      const index = await get(`${apkRepo.url}/${b.path}/APKINDEX.tar.gz`);
      const [sigGz, indexGz] = gzipMembers(index) as [Buffer, Buffer];
      const [sigName, sig] = signature(sigGz);
      expect(sigName).toBe(`.SIGN.RSA.${apkRepo.keyName}`);
      expect(verify('sha1', indexGz, pub, sig), 'index signature').toBe(true);
      const files = new Map(parseTar(gunzipSync(indexGz)).map((e) => [e.path, e.entry.content!.toString()]));
      expect([...files.keys()]).toEqual(['DESCRIPTION', 'APKINDEX']);
      const entries = files.get('APKINDEX')!.split('\n\n').filter(Boolean).map((block) =>
        Object.fromEntries(block.split('\n').map((l) => [l.slice(0, 1), l.slice(2)])));
      for (const p of b.packages) {
        const e = entries.find((x) => x.P === p.name && x.V === p.to);
        expect(e, `${branch} ${arch} ${p.name}-${p.to}`).toBeDefined();
        expect(entries.some((x) => x.P === p.name && x.V === p.from)).toBe(false);
        expect(e!.A).toBe(arch);
        // C: = Q1 + base64(SHA-1 of the control stream); S: = file size; signature over that stream
        const apk = await get(`${apkRepo.url}/${b.path}/${p.name}-${p.to}.apk`);
        const [pSig, control, data] = gzipMembers(apk) as [Buffer, Buffer, Buffer];
        expect(e!.C).toBe('Q1' + createHash('sha1').update(control).digest('base64'));
        expect(Number(e!.S)).toBe(apk.length);
        const [pSigName, pSigBytes] = signature(pSig);
        expect(pSigName).toBe(`.SIGN.RSA.${apkRepo.keyName}`);
        expect(verify('sha1', control, pub, pSigBytes)).toBe(true);
        const pkginfo = parseTar(gunzipSync(control)).find((x) => x.path === '.PKGINFO')!.entry.content!.toString();
        expect(pkginfo).toContain(`pkgver = ${p.to}\n`);
        expect(pkginfo).toContain(`datahash = ${createHash('sha256').update(data).digest('hex')}\n`);
        expect(parseTar(gunzipSync(data)).some((x) => `/${x.path}` === p.marker)).toBe(true);
      }
    }
  });

  it("Alpine's own apk, inside BuildKit, verifies the index and sees the upgrades", async () => {
    const ref = registryRef('alpine:3.20-multi');
    const { dir, out } = await buildctlDockerfile(
      [
        `FROM ${ref} AS probe`,
        // no --allow-untrusted: apk must verify the index with the bed's key
        'RUN apk update -q && apk version -l "<" >/upgradable.txt && cat /etc/apk/arch >/arch.txt',
        'FROM scratch',
        'COPY --from=probe /upgradable.txt /arch.txt /',
        '',
      ].join('\n'),
      'linux/amd64,linux/386',
    );
    try {
      for (const [plat, arch] of [['linux_amd64', 'x86_64'], ['linux_386', 'x86']] as const) {
        expect(readFileSync(join(out, plat, 'arch.txt'), 'utf8').trim()).toBe(arch);
        const listed = readFileSync(join(out, plat, 'upgradable.txt'), 'utf8');
        for (const p of apkRepoBranch('v3.20', arch).packages) expect(listed, `${arch} ${p.name}`).toMatch(new RegExp(`^${p.name}-${p.from.replace(/[.+]/g, '\\$&')}\\s+< ${p.to.replace(/[.+]/g, '\\$&')}`, 'm'));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('BuildKit pulls the 3.19 and static images', async () => {
    const { dir, out } = await buildctlDockerfile(
      [
        `FROM ${registryRef('alpine:3.19-pointrelease')} AS a`,
        `FROM ${registryRef('alpine:3.20-static')} AS b`,
        'FROM scratch',
        'COPY --from=a /etc/alpine-release /a.txt',
        'COPY --from=b /etc/alpine-release /b.txt',
        '',
      ].join('\n'),
    );
    try {
      expect(readFileSync(join(out, 'a.txt'), 'utf8').trim()).toBe('3.19.4');
      expect(readFileSync(join(out, 'b.txt'), 'utf8').trim()).toBe('3.20.3');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
