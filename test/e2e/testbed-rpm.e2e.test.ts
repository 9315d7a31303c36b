// Proves the test bed's RPM world is consistent: the rpm/* images exist with
// the right platform and contents, the repositories serve signed metadata and
// the bumped packages, and -- inside BuildKit, with gpg checks on -- the real
// dnf upgrades the dnf images and, from the tooling image, the distroless
// Mariner root through --installroot and the target's own repo file.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  fetchConfig,
  fetchRawManifest,
  fileExistsInImage,
  listLayers,
  readFileFromImage,
  registryRef,
  rpmRepoEntry,
  runBuildctl,
  testbed,
  TESTBED_RPM_IMAGES,
  sharedFixturesDir,
} from '../env/testbed.js';

const FIXTURES = sharedFixturesDir();

async function get(url: string): Promise<Buffer> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** Build a Dockerfile with BuildKit and export the last stage to a local dir. */
async function buildctlDockerfile(dockerfile: string): Promise<{ dir: string; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'copa-rpm-bed-'));
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  const res = await runBuildctl([
    'build', '--frontend', 'dockerfile.v0',
    '--local', `context=${dir}`, '--local', `dockerfile=${dir}`,
    '--output', `type=local,dest=${join(dir, 'out')}`,
  ]);
  if (res.code !== 0) throw new Error(`buildctl failed (exit ${res.code}):\n${res.stderr.slice(-4000)}`);
  return { dir, out: join(dir, 'out') };
}

const QF = `--qf '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n'`;
const versions = (text: string) => new Map(text.trim().split('\n').map((l) => l.split(' ') as [string, string]));

describe('test bed: RPM world', () => {
  it('has every rpm image in env.json and the registry: linux/amd64, one gzip layer', async () => {
    const tb = testbed();
    for (const name of TESTBED_RPM_IMAGES) {
      expect(tb.images[name], name).toBe(registryRef(name));
      const raw = await fetchRawManifest(registryRef(name));
      expect('manifests' in raw, name).toBe(false);
      const cfg = await fetchConfig(registryRef(name));
      expect(`${cfg.os}/${cfg.architecture}`, name).toBe('linux/amd64');
      const layers = await listLayers(registryRef(name));
      expect(layers).toHaveLength(1);
      expect(layers[0]!.mediaType).toMatch(/tar\+gzip$/);
    }
    expect((await fetchConfig(registryRef('rpm/cbl-mariner:2.0-distroless'))).config.Cmd).toBeUndefined();
  });

  it('the distroless Mariner image has the real manifest, the packages files, no rpmdb or package manager', async () => {
    const ref = registryRef('rpm/cbl-mariner:2.0-distroless');
    const { rpmRepo } = testbed();
    const manifest = readFileSync(join(FIXTURES, 'rpm/cbl-mariner-2.0-distroless-base.container-manifest-2'));
    expect(await readFileFromImage(ref, '/var/lib/rpmmanifest/container-manifest-2')).toEqual(manifest);
    expect((await readFileFromImage(ref, '/var/lib/rpmmanifest/container-manifest-1')).toString()).toContain('openssl-libs-1.1.1k-15.cm2.x86_64\n');
    const osr = (await readFileFromImage(ref, '/etc/os-release')).toString();
    expect(osr).toMatch(/^ID=mariner$/m);
    expect(osr).toMatch(/^VERSION_ID="2.0"$/m);
    for (const p of ['/var/lib/rpm', '/usr/bin/rpm', '/usr/bin/dnf', '/usr/bin/tdnf', '/bin/sh', '/usr/bin/sh']) {
      expect(await fileExistsInImage(ref, p), p).toBe(false);
    }
    expect((await readFileFromImage(ref, '/usr/lib/libssl.so.1.1')).toString()).toContain('openssl-libs 1.1.1k-15.cm2');
    const repoFile = (await readFileFromImage(ref, '/etc/yum.repos.d/mariner-official-base.repo')).toString();
    expect(repoFile).toContain(`baseurl=${rpmRepo.url}/cbl-mariner/$releasever/prod/base/$basearch\n`);
    expect(repoFile).toMatch(/^gpgcheck=1$/m);
    expect(repoFile).toMatch(/^repo_gpgcheck=1$/m);
    expect(await readFileFromImage(ref, rpmRepo.keyPathInImages)).toEqual(readFileSync(rpmRepo.gpgKeyPath));
    expect(await readFileFromImage(registryRef('rpm/tooling:latest'), rpmRepo.keyPathInImages)).toEqual(readFileSync(rpmRepo.gpgKeyPath));
    const cnf = (await readFileFromImage(ref, '/etc/pki/tls/openssl.cnf')).toString();
    expect(cnf.trimEnd().split('\n').at(-1)).toBe('# copa-testbed: local edit, kept across upgrades');
  });

  it('the rpmdb images carry the real databases where each format lives', async () => {
    const { rpmRepo } = testbed();
    expect(JSON.parse(readFileSync(rpmRepo.packagesFile, 'utf8')).rpmdb).toEqual(rpmRepo.rpmdb);
    const byImage = new Map(rpmRepo.rpmdb.map((d) => [d.image, d]));
    expect([...byImage.keys()].sort()).toEqual(TESTBED_RPM_IMAGES.filter((n) => n.startsWith('rpm/rpmdb:')).sort());
    const expected = { 'rpm/rpmdb:cbl-mariner-2.0': ['sqlite', 129, 'mariner'], 'rpm/rpmdb:amazonlinux-2023': ['sqlite', 103, 'amzn'],
      'rpm/rpmdb:rhel-8': ['bdb', 1, 'rhel'], 'rpm/rpmdb:sles-15': ['ndb', 35, 'sles'] } as const;
    for (const [image, [format, count, id]] of Object.entries(expected)) {
      const d = byImage.get(image)!;
      expect(d.format, image).toBe(format);
      expect(d.count, image).toBe(count);
      expect(d.packages).toHaveLength(count);
      const db = await readFileFromImage(registryRef(image), d.path);
      expect(db).toEqual(readFileSync(join(FIXTURES, 'rpm/rpmdb', d.fixture)));
      expect((await readFileFromImage(registryRef(image), '/etc/os-release')).toString()).toMatch(new RegExp(`^ID="?${id}"?$`, 'm'));
    }
    expect(byImage.get('rpm/rpmdb:cbl-mariner-2.0')!.sample['openssl-libs']).toBe('0:1.1.1k-7.cm2');
    expect(byImage.get('rpm/rpmdb:amazonlinux-2023')!.sample['openssl-libs']).toBe('1:3.0.8-1.amzn2023.0.4');
    expect(byImage.get('rpm/rpmdb:rhel-8')!.sample.libuuid).toBe('0:2.32.1-42.el8_8');
    expect(byImage.get('rpm/rpmdb:sles-15')!.sample['sles-release']).toBe('0:15.3-55.4.1');
  });

  it('the repositories serve signed metadata, the key, and every bumped package at both releases', async () => {
    const { rpmRepo } = testbed();
    expect(await get(rpmRepo.gpgKeyUrl)).toEqual(readFileSync(rpmRepo.gpgKeyPath));
    expect(JSON.parse(readFileSync(rpmRepo.packagesFile, 'utf8')).repos).toEqual(rpmRepo.repos);
    const mariner = rpmRepoEntry('cbl-mariner-2.0');
    expect(mariner.packages.map((p) => p.name).sort()).toEqual(['openssl', 'openssl-libs', 'prebuilt-ca-certificates-base']);
    expect(mariner.unchanged.map((p) => p.name)).toContain('glibc');
    expect(rpmRepoEntry('copa-testbed-el9').unchanged.map((p) => p.name)).toEqual(['copa-demo-extras']);
    for (const r of rpmRepo.repos) {
      const base = rpmRepo.repositories[r.id]!;
      const repomd = (await get(`${base}/repodata/repomd.xml`)).toString();
      expect(repomd).toContain('<data type="primary">');
      expect((await get(`${base}/repodata/repomd.xml.asc`)).toString()).toContain('-----BEGIN PGP SIGNATURE-----');
      const primaryHref = /<data type="primary">[\s\S]*?<location href="([^"]+)"/.exec(repomd)![1]!;
      const { gunzipSync } = await import('node:zlib');
      const primary = gunzipSync(await get(`${base}/${primaryHref}`)).toString();
      for (const p of r.packages) {
        for (const vr of [p.to, ...(r.id === 'centos-7' ? [] : [p.from])]) {
          const [ver, rel] = [vr.slice(0, vr.lastIndexOf('-')), vr.slice(vr.lastIndexOf('-') + 1)];
          expect(primary, `${r.id} ${p.name}-${vr}`).toContain(`<name>${p.name}</name>`);
          expect(primary).toContain(`<version epoch="${p.epoch}" ver="${ver}" rel="${rel}"/>`);
          const rpm = await get(`${base}/${p.name}-${vr}.${p.arch}.rpm`);
          expect(rpm.subarray(0, 4).toString('hex')).toBe('edabeedb'); // RPM lead magic
        }
      }
    }
  });

  it("inside BuildKit, the image's own dnf upgrades from the repositories with gpg checks on", async () => {
    const { rpmRepo } = testbed();
    const demo = rpmRepoEntry('copa-testbed-el9');
    const centos = rpmRepoEntry('centos-7');
    const { dir, out } = await buildctlDockerfile(
      [
        `FROM ${registryRef('rpm/dnf:almalinux-9.3')} AS dnf`,
        // gpgcheck=1 and repo_gpgcheck=1 come from the image's repo file; nothing turns them off.
        `RUN grep -qx gpgcheck=1 /etc/yum.repos.d/copa-testbed.repo && rpm -qa ${QF} >/before.txt && dnf -y upgrade copa-demo-tools >/log.txt 2>&1 && rpm -qa ${QF} >/mid.txt && dnf -y upgrade >>/log.txt 2>&1 && rpm -qa ${QF} >/after.txt && (dnf -q check-update; echo $? >/check.txt) && ls /etc/copa-demo.conf* >/conf.txt && tail -n 1 /etc/copa-demo.conf >>/conf.txt`,
        `FROM ${registryRef('rpm/dnf:centos-6')} AS centos`,
        `RUN dnf -y upgrade centos-release >/log.txt 2>&1 && rpm -q ${QF} centos-release >/after.txt && head -n 1 /etc/centos-release >>/after.txt`,
        `FROM ${registryRef('rpm/cbl-mariner:2.0-distroless')} AS distroless`,
        `FROM ${registryRef('rpm/tooling:latest')} AS tooling`,
        'COPY --from=distroless / /target/',
        // The distroless path: rebuild a database of the target's packages at their installed
        // versions, then upgrade, with the target's own repo file (key at the same path here).
        `RUN set -e; pkgs=$(awk -F'\\t' '{printf "%s-%s ", $1, $2}' /target/var/lib/rpmmanifest/container-manifest-2); d="dnf -y --installroot=/target --setopt=reposdir=/target/etc/yum.repos.d --releasever=2.0"; $d install $pkgs >/log.txt 2>&1; $d upgrade >>/log.txt 2>&1; rpm --root /target -qa ${QF} >/after.txt; ls /target/usr/share/copa-testbed >/markers.txt`,
        'FROM scratch',
        'COPY --from=dnf /before.txt /mid.txt /after.txt /check.txt /conf.txt /dnf/',
        'COPY --from=centos /after.txt /centos/',
        'COPY --from=tooling /after.txt /markers.txt /distroless/',
        '',
      ].join('\n'),
    );
    try {
      const rd = (p: string) => readFileSync(join(out, p), 'utf8');
      const before = versions(rd('dnf/before.txt'));
      const mid = versions(rd('dnf/mid.txt'));
      const after = versions(rd('dnf/after.txt'));
      for (const p of demo.packages) {
        expect(before.get(p.name), p.name).toBe(p.fromEvr);
        expect(after.get(p.name), p.name).toBe(p.toEvr);
      }
      // upgrading tools pulls its exact-version libs, leaves conf alone
      expect(mid.get('copa-demo-tools')).toBe('0:1.1-1');
      expect(mid.get('copa-demo-libs')).toBe('0:1.1-1');
      expect(mid.get('copa-demo-conf')).toBe('1:1.0-1');
      expect(after.get('copa-demo-extras')).toBe('0:1.0-1');
      expect([...after.keys()].filter((n) => n.startsWith('gpg-pubkey'))).toHaveLength(1);
      expect(rd('dnf/check.txt').trim()).toBe('0');
      expect(rd('dnf/conf.txt')).toBe('/etc/copa-demo.conf\n/etc/copa-demo.conf.rpmnew\n# copa-testbed: local edit, kept across upgrades\n');

      expect(rd('centos/after.txt')).toBe(`centos-release ${centos.packages[0]!.toEvr}\nCentOS Linux release 7.2.1511 (Core) \n`);

      const dl = versions(rd('distroless/after.txt'));
      const mariner = rpmRepoEntry('cbl-mariner-2.0');
      for (const p of mariner.packages) expect(dl.get(p.name), p.name).toBe(p.toEvr);
      for (const p of mariner.unchanged) expect(dl.get(p.name), p.name).toBe(p.evr);
      expect(rd('distroless/markers.txt').trim().split('\n').sort()).toEqual(mariner.packages.map((p) => p.marker.split('/').at(-1)).sort());
      expect(rpmRepo.images['rpm/cbl-mariner:2.0-distroless']!.packageManager).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
