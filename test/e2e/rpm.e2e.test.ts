// The rpm family end to end on the bed's RPM world (test/env/rpm/README.md): the plugin and
// the gateway frontend patch the distroless Mariner image through the tooling image and the
// dnf image in place, from the bed's signed repositories (gpg checks on); we inspect the
// pushed results like a user (layers, files, rpm's own database read by the host's rpm).
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testbed, registryRef, listLayers, imageFilesystem, readLayerFiles, type TarEntry } from '../env/testbed.js';
import { reportDir, trivyReport, type Finding } from './support/reports.js';
import { dockerCopa, installPlugin, pluginBinary } from './support/plugin.js';
import { frontendImage } from './support/frontend-image.js';
import { gatewayPatch } from './support/gateway.js';
import { buildImage } from './support/images.js';

const MARINER = () => registryRef('rpm/cbl-mariner:2.0-distroless');
const DNF = () => registryRef('rpm/dnf:almalinux-9.3');
const TOOLING = () => registryRef('rpm/tooling:latest');
const LOCAL_EDIT = '# copa-testbed: local edit, kept across upgrades';
const MARINER_OS = { family: 'cbl-mariner', name: '2.0.20220527' };
const ALMA_OS = { family: 'alma', name: '9.3' };

let seq = 0;
const tag = (p: string) => `${p}-${Date.now()}-${seq++}`;

async function plugin(image: string, o: { report?: object; args?: string[]; repo: string }): Promise<{ code: number; out: string; target: string }> {
  const t = tag('p');
  const target = registryRef(`${o.repo}:${t}`);
  const args = ['patch', '-i', image, '-t', t, '--push', '--addr', testbed().buildkitAddr, '--progress', 'plain', ...(o.args ?? [])];
  if (o.report) args.push('-r', join(reportDir(o.report), 'report.json'));
  const r = await dockerCopa(args);
  return { code: r.code, out: r.stdout + r.stderr, target };
}

let frontend: string;
function viaFrontend(image: string, o: { report?: object; opts?: Record<string, string> }): Promise<{ code: number; out: string; target: string }> {
  return gatewayPatch(frontend, image, registryRef(`rpm/patched:${tag('f')}`), o);
}

const text = (fs: Map<string, TarEntry>, p: string) => fs.get(p)?.content?.toString('utf8');

/** rpm -q of the image's own database, read by the host's rpm (Debian's rpm 4.18). */
function rpmdbVersions(fs: Map<string, TarEntry>): Map<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'copa-rpmdb-'));
  writeFileSync(join(dir, 'rpmdb.sqlite'), fs.get('var/lib/rpm/rpmdb.sqlite')!.content!);
  const out = execFileSync('rpm', ['--dbpath', dir, '-qa', '--qf', '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n'], { encoding: 'utf8' });
  return new Map(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
}

const finding = (name: string, installed: string, fixed: string): Finding => ({ name, installed, fixed });

beforeAll(async () => {
  expect(existsSync(pluginBinary), 'npm run build makes build/docker-copa').toBe(true);
  expect(testbed().images['rpm/dnf:almalinux-9.3'], 'the bed has the RPM world').toBeTruthy();
  installPlugin();
  frontend = await frontendImage();
});

describe('distroless CBL-Mariner 2.0 (manifest only) through the tooling image', () => {
  // One patch: report mode with --ignore-errors; glibc has no fix in the repository.
  let run: { code: number; out: string; target: string };
  let fs: Map<string, TarEntry>;
  let top: Map<string, TarEntry>;
  beforeAll(async () => {
    const report = trivyReport(MARINER_OS, [
      finding('openssl-libs', '1.1.1k-15.cm2', '1.1.1k-16.cm2'),
      finding('prebuilt-ca-certificates-base', '2.0.0-3.cm2', '2.0.0-4.cm2'),
      finding('glibc', '2.35-2.cm2', '2.35-3.cm2'),
    ]);
    run = await plugin(MARINER(), { report, repo: 'rpm/cbl-mariner', args: ['--tooling-image', TOOLING(), '--ignore-errors'] });
    expect(run.code, run.out).toBe(0);
    [fs, top] = await Promise.all([imageFilesystem(run.target), readLayerFiles(run.target, -1)]);
  });

  it('is the original plus one layer, still without rpm database, rpm, dnf, tdnf or a shell', async () => {
    expect((await listLayers(run.target)).length).toBe((await listLayers(MARINER())).length + 1);
    for (const p of ['var/lib/rpm', 'usr/bin/rpm', 'usr/bin/dnf', 'usr/bin/tdnf', 'bin/sh', 'usr/bin/sh', 'var/cache/dnf', 'var/lib/dnf', 'var/log/dnf.log']) {
      expect(fs.has(p), p).toBe(false);
    }
    expect([...top.keys()].filter((p) => /^(var\/lib\/rpm(\/|$)|var\/cache|var\/lib\/dnf|var\/log|copa-|target|tmp\/)/.test(p))).toEqual([]);
  });

  it('installs the new files and rewrites the manifest in its own line format', () => {
    expect(fs.has('usr/share/copa-testbed/openssl-libs-1.1.1k-16.cm2')).toBe(true);
    // openssl (not in the report) requires openssl-libs = V-R: dnf raises it too.
    expect(fs.has('usr/share/copa-testbed/openssl-1.1.1k-16.cm2')).toBe(true);
    expect(text(fs, 'usr/lib/libssl.so.1.1')).toContain('1.1.1k-16.cm2');
    const m2 = text(fs, 'var/lib/rpmmanifest/container-manifest-2')!.trimEnd().split('\n');
    expect(m2).toHaveLength(12);
    for (const l of m2) expect(l.split('\t')).toHaveLength(10);
    expect(m2.find((l) => l.startsWith('openssl-libs\t'))).toMatch(/^openssl-libs\t1\.1\.1k-16\.cm2\t\d+\t\d+\t[^\t]+\t\(none\)\t\d+\tx86_64\t0\topenssl-1\.1\.1k-16\.cm2\.src\.rpm$/);
    expect(m2.find((l) => l.startsWith('glibc\t'))).toBe('glibc\t2.35-2.cm2\t1653816591\t1653628955\tMicrosoft Corporation\t(none)\t10855265\tx86_64\t0\tglibc-2.35-2.cm2.src.rpm');
    expect(text(fs, 'var/lib/rpmmanifest/container-manifest-1')).toContain('openssl-libs-1.1.1k-16.cm2.x86_64\n');
  });

  it('keeps the locally edited openssl.cnf (rpm writes .rpmnew)', () => {
    expect(text(fs, 'etc/pki/tls/openssl.cnf')!.trimEnd().split('\n').at(-1)).toBe(LOCAL_EDIT);
    expect(fs.has('etc/pki/tls/openssl.cnf.rpmnew')).toBe(true);
  });

  it('--ignore-errors patches the rest and reports the package the repository has no fix for', () => {
    expect(run.out).toMatch(/openssl-libs\s+patched\s+1\.1\.1k-15\.cm2\s+1\.1\.1k-16\.cm2/);
    expect(run.out).toMatch(/prebuilt-ca-certificates-base\s+patched\s+2\.0\.0-3\.cm2\s+1:2\.0\.0-4\.cm2/);
    expect(run.out).toMatch(/glibc\s+NOT PATCHED\s+2\.35-2\.cm2\s+\(needs 2\.35-3\.cm2\)/);
  });

  it('without --ignore-errors the missing fix is an error naming package and versions', async () => {
    const r = await plugin(MARINER(), { report: trivyReport(MARINER_OS, [finding('glibc', '2.35-2.cm2', '2.35-3.cm2')]), repo: 'rpm/cbl-mariner', args: ['--tooling-image', TOOLING()] });
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('downloaded package glibc version 2.35-2.cm2 lower than required 2.35-3.cm2 for update');
  });
});

describe('the dnf image (rpm database + dnf) in place', () => {
  it('update-all through the frontend: rpm shows the new versions, the edited config is kept, nothing of dnf\'s in the layer', async () => {
    const r = await viaFrontend(DNF(), {});
    expect(r.code, r.out).toBe(0);
    expect((await listLayers(r.target)).length).toBe((await listLayers(DNF())).length + 1);
    const [fs, top] = await Promise.all([imageFilesystem(r.target), readLayerFiles(r.target, -1)]);
    const v = rpmdbVersions(fs);
    expect([v.get('copa-demo-libs'), v.get('copa-demo-tools'), v.get('copa-demo-conf'), v.get('copa-demo-extras')]).toEqual(['0:1.1-1', '0:1.1-1', '1:1.0-2', '0:1.0-1']);
    expect(text(fs, 'etc/copa-demo.conf')!.trimEnd().split('\n').at(-1)).toBe(LOCAL_EDIT);
    expect(fs.has('etc/copa-demo.conf.rpmnew')).toBe(true);
    expect([...top.keys()].filter((p) => /^(var\/cache\/dnf\/.|var\/lib\/dnf\/.|var\/log\/(dnf|hawkey)|copa-)/.test(p))).toEqual([]);
  });

  it('report mode (plugin): exactly the report\'s package (and what it requires), not the rest', async () => {
    const r = await plugin(DNF(), { report: trivyReport(ALMA_OS, [finding('copa-demo-tools', '1.0-1', '1.1-1'), finding('not-installed-here', '1.0-1', '1.1-1')]), repo: 'rpm/dnf' });
    expect(r.code, r.out).toBe(0);
    const v = rpmdbVersions(await imageFilesystem(r.target));
    expect([v.get('copa-demo-tools'), v.get('copa-demo-libs'), v.get('copa-demo-conf'), v.has('not-installed-here')]).toEqual(['0:1.1-1', '0:1.1-1', '1:1.0-1', false]);
    expect(r.out).toMatch(/not-installed-here\s+not installed/);
  });

  it('already up to date for the report: exit 0, nothing run', async () => {
    const r = await plugin(DNF(), { report: trivyReport(ALMA_OS, [finding('copa-demo-extras', '1.0-1', '1.0-1')]), repo: 'rpm/dnf' });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/already up to date/);
    expect(r.out).not.toMatch(/copa: (refresh|dnf upgrade)/);
  });

  it('a hostile package name is refused before any step runs', async () => {
    const r = await plugin(DNF(), { report: trivyReport(ALMA_OS, [finding('copa-demo-tools;touch${IFS}/pwned', '1.0-1', '1.1-1')]), repo: 'rpm/dnf' });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/not a valid RPM package name/);
    expect(r.out).not.toMatch(/copa: (list installed|refresh|dnf upgrade)/);
  });

  it('an unreachable repository is an error naming its URL and dnf\'s words, never "up to date"', async () => {
    const dead = await buildImage('rpm-dead-repo', `FROM ${DNF()}\nRUN sed -i 's#^baseurl=http://127.0.0.1:[0-9]*#baseurl=http://127.0.0.1:9#' /etc/yum.repos.d/copa-testbed.repo\n`);
    const r = await plugin(dead, { repo: 'rpm/dnf' });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/dnf in the alma 9\.3 image could not fetch the repository metadata from http:\/\/127\.0\.0\.1:9\/copa-testbed\/el9\/x86_64\/repodata\/repomd\.xml: .*(Curl error|Couldn't connect)/);
    expect(r.out).not.toMatch(/already up to date/);
  });
});

describe('real rpm databases (read with the tooling image\'s rpm)', () => {
  for (const tagName of ['amazonlinux-2023', 'cbl-mariner-2.0', 'rhel-8']) {
    it(`rpm/rpmdb:${tagName}: the count and versions rpm --dbpath -qa gives`, async () => {
      const expected = testbed().rpmRepo.rpmdb.find((d) => d.image === `rpm/rpmdb:${tagName}`)!;
      const os = { 'amazonlinux-2023': { family: 'amazon', name: '2023' }, 'cbl-mariner-2.0': MARINER_OS, 'rhel-8': { family: 'redhat', name: '8.8' } }[tagName]!;
      // Report each sampled package at its installed version: nothing to do, the table shows what was read.
      const sample = Object.entries(expected.sample).map(([name, evr]) => finding(name, evr.replace(/^0:/, ''), evr.replace(/^0:/, '')));
      const r = await plugin(registryRef(`rpm/rpmdb:${tagName}`), { report: trivyReport(os, sample), repo: 'rpm/rpmdb', args: ['--tooling-image', TOOLING()] });
      expect(r.code, r.out).toBe(0);
      const realPackages = expected.packages.filter((p) => p.name !== 'gpg-pubkey').length;
      expect(r.out).toContain(`rpm database: ${realPackages} packages (${expected.format} rpm database`);
      for (const [name, evr] of Object.entries(expected.sample)) {
        expect(r.out).toMatch(new RegExp(`${name.replace(/[.+]/g, '\\$&')}\\s+already fixed\\s+${evr.replace(/^0:/, '').replace(/[.+^]/g, '\\$&')}\\s`));
      }
    });
  }
  it('rpm/rpmdb:sles-15 (ndb): a tooling rpm without ndb is a clear error, not a wrong list', async () => {
    const r = await plugin(registryRef('rpm/rpmdb:sles-15'), { repo: 'rpm/rpmdb', args: ['--tooling-image', TOOLING()] });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/could not read the ndb rpm database at \/var\/lib\/rpm/);
  });
});
