import { describe, expect, it } from 'vitest';
import { CopaError } from '../../src/engine/errors.js';
import { normalizeImageRef, parseImageRef } from '../../src/engine/imageref.js';
import { frontendAttrs, parseBoolean, parseFrontendOptions, parsePlatform, parsePlatformList } from '../../src/engine/options.js';

function inputError(fn: () => unknown): CopaError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CopaError);
    expect((e as CopaError).category).toBe('input');
    return e as CopaError;
  }
  throw new Error('expected an input error');
}

const SHA = 'sha256:' + 'a'.repeat(64);

describe('parseImageRef', () => {
  it.each([
    ['nginx', 'docker.io/library/nginx:latest'],
    ['nginx:1.27', 'docker.io/library/nginx:1.27'],
    ['library/nginx:1.27', 'docker.io/library/nginx:1.27'],
    ['bitnami/nginx', 'docker.io/bitnami/nginx:latest'],
    ['docker.io/nginx', 'docker.io/library/nginx:latest'],
    ['index.docker.io/library/nginx:1', 'docker.io/library/nginx:1'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app:v1', 'localhost:5000/app:v1'],
    ['registry.example.com:443/team/sub/app:1.0-rc.1', 'registry.example.com:443/team/sub/app:1.0-rc.1'],
    ['[::1]:5000/app:x', '[::1]:5000/app:x'],
    ['ghcr.io/org/my_app__x-y.z:tag_1', 'ghcr.io/org/my_app__x-y.z:tag_1'],
    [`nginx@${SHA}`, `docker.io/library/nginx@${SHA}`],
    [`nginx:1.27@${SHA}`, `docker.io/library/nginx:1.27@${SHA}`],
    ['mcr.microsoft.com/cbl-mariner/base/core:2.0', 'mcr.microsoft.com/cbl-mariner/base/core:2.0'],
    ['Registry.Example.com/app', 'Registry.Example.com/app:latest'],
  ])('%s → %s', (input, want) => {
    expect(normalizeImageRef(input)).toBe(want);
  });

  it('exposes the parts', () => {
    expect(parseImageRef(`localhost:5000/a/b:t@${SHA}`)).toEqual({
      domain: 'localhost:5000',
      path: 'a/b',
      name: 'localhost:5000/a/b',
      repository: 'localhost:5000/a/b',
      tag: 't',
      digest: SHA,
      ref: `localhost:5000/a/b:t@${SHA}`,
      normalized: `localhost:5000/a/b:t@${SHA}`,
    });
    expect(parseImageRef(`nginx@${SHA}`).tag).toBeUndefined();
  });

  it.each([
    ['', 'it is empty'],
    ['nginx:', 'tag "" must be'],
    ['nginx:-bad', 'tag "-bad" must be'],
    [`nginx:${'a'.repeat(129)}`, 'must be 1-128'],
    ['nginx@sha256:abc', 'digest "sha256:abc" is not <algorithm>:<hex>'],
    [`nginx@sha256:${'A'.repeat(64)}`, '64 lowercase hex digits'],
    [`nginx@sha256:${'a'.repeat(63)}0a`, '64 lowercase hex digits'],
    ['Nginx', 'repository names must be lowercase'],
    ['docker.io/Library/nginx', 'repository names must be lowercase'],
    ['nginx latest', 'whitespace'],
    ['nginx\n', 'whitespace'],
    ['ngi\u00f1x', 'non-ASCII'],
    ['a//b', 'repository component ""'],
    ['-nginx', 'repository component "-nginx"'],
    ['ex ample.com/app', 'whitespace'],
    ['example.com:99999/app', 'registry port "99999"'],
    ['exa_mple.com/app', 'registry host "exa_mple.com"'],
    [`${'a'.repeat(250)}/b/c`, 'longer than 255'],
    [':tag', 'the repository name is empty'],
    ['nginx;rm -rf /', 'whitespace'],
    ['$(id)', 'repository component'],
  ])('%j is refused: %s', (input, msg) => {
    const e = inputError(() => parseImageRef(input, 'option image'));
    expect(e.message).toMatch(/^option image ".*"(\.\.\. \(\d+ characters\))? is not a valid image reference: /);
    expect(e.message).toContain(msg);
    expect(e.message).not.toMatch(/[\u0000-\u001f\u007f-\uffff]/);
  });

  it('suggests the lowercase name', () => {
    expect(inputError(() => parseImageRef('MyOrg/App:1')).hint).toBe('did you mean docker.io/myorg/app?');
  });
});

describe('parsePlatform', () => {
  it.each([
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }],
    ['linux/amd64/v1', { os: 'linux', architecture: 'amd64' }],
    ['linux/amd64/v3', { os: 'linux', architecture: 'amd64', variant: 'v3' }],
    ['linux/x86_64', { os: 'linux', architecture: 'amd64' }],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64' }],
    ['linux/aarch64', { os: 'linux', architecture: 'arm64' }],
    ['linux/arm', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['linux/arm/v6', { os: 'linux', architecture: 'arm', variant: 'v6' }],
    ['linux/arm/7', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['linux/armhf', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['linux/386', { os: 'linux', architecture: '386' }],
    ['linux/i386', { os: 'linux', architecture: '386' }],
    ['LINUX/PPC64LE', { os: 'linux', architecture: 'ppc64le' }],
    ['linux/s390x', { os: 'linux', architecture: 's390x' }],
    ['linux/riscv64', { os: 'linux', architecture: 'riscv64' }],
    ['arm64', { os: 'linux', architecture: 'arm64' }],
    [' linux/amd64 ', { os: 'linux', architecture: 'amd64' }],
  ])('%s', (input, want) => expect(parsePlatform(input)).toEqual(want));

  it.each([
    ['windows/amd64', 'Linux images only'],
    ['darwin/arm64', 'Linux images only'],
    ['linux', 'needs an architecture'],
    ['linux/amd46', 'unknown architecture "amd46"'],
    ['linux/', 'expected linux/<arch>'],
    ['linux/arm/v7/x', 'expected linux/<arch>'],
    ['linux/arm/seven', 'variant "seven"'],
  ])('%s is refused (%s)', (input, msg) => {
    const e = inputError(() => parsePlatform(input));
    expect(e.message).toContain(`option platform="${input}" is not valid`);
    expect(e.message).toContain(msg);
  });

  it('lists are normalised and de-duplicated in order', () => {
    expect(parsePlatformList('linux/arm64/v8, linux/amd64,linux/arm64,,linux/x86_64')).toEqual([
      { os: 'linux', architecture: 'arm64' },
      { os: 'linux', architecture: 'amd64' },
    ]);
    expect(parsePlatformList('')).toEqual([]);
  });
});

describe('parseBoolean', () => {
  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['0', false],
    ['No', false],
  ])('%s → %s', (v, want) => expect(parseBoolean(v, 'ignore-errors')).toBe(want));

  it.each(['', 'maybe', 'ture', '2'])('%j is refused, naming the option and the accepted values', (v) => {
    const e = inputError(() => parseBoolean(v, 'ignore-errors'));
    expect(e.message).toBe(`option ignore-errors=${JSON.stringify(v)} is not valid: accepted values are true, false, 1, 0, yes, no`);
  });
});

describe('parseFrontendOptions', () => {
  it('defaults', () => {
    expect(parseFrontendOptions({ image: 'nginx:1.27' })).toEqual({
      image: 'docker.io/library/nginx:1.27',
      imageRef: parseImageRef('nginx:1.27'),
      platforms: [],
      ignoreErrors: false,
      scanner: 'trivy',
      network: 'sandbox',
      warnings: [],
    });
  });

  it('network: sandbox (default) or host; anything else names the option', () => {
    expect(parseFrontendOptions({ image: 'nginx', network: 'host' }).network).toBe('host');
    expect(parseFrontendOptions({ image: 'nginx', 'build-arg:network': 'Sandbox' }).network).toBe('sandbox');
    expect(inputError(() => parseFrontendOptions({ image: 'nginx', network: 'none' })).message).toContain('option network="none" is not valid');
  });

  it('frontendAttrs is the inverse of parseFrontendOptions (one typed path for --frontend-image)', () => {
    const cases: Record<string, string>[] = [
      { image: 'nginx:1.27' },
      { image: 'alpine:3.20', report: 'report.json', platform: 'linux/amd64,linux/arm64', 'ignore-errors': 'true', 'tooling-image': 'alpine:3.20', scanner: 'native', network: 'host' },
    ];
    for (const opts of cases) {
      const o = parseFrontendOptions(opts);
      const { warnings: _w, ...again } = parseFrontendOptions(frontendAttrs(o));
      const { warnings: _w2, ...want } = o;
      expect(again).toEqual(want);
    }
    expect(frontendAttrs(parseFrontendOptions({ image: 'nginx', network: 'host' })).network).toBe('host');
  });

  it('reads plain (buildctl --opt) and build-arg: (buildx --build-arg) keys alike', () => {
    const plain = parseFrontendOptions({
      image: 'alpine:3.19',
      report: 'reports/alpine.json',
      platform: 'linux/amd64,linux/arm64/v8',
      'ignore-errors': 'yes',
      'tooling-image': 'debian:12-slim',
      scanner: 'native',
    });
    const buildArgs = parseFrontendOptions({
      'build-arg:image': 'alpine:3.19',
      'build-arg:report': 'reports/alpine.json',
      'build-arg:platform': 'linux/amd64,linux/arm64/v8',
      'build-arg:ignore-errors': 'yes',
      'build-arg:tooling-image': 'debian:12-slim',
      'build-arg:scanner': 'native',
    });
    expect(buildArgs).toEqual(plain);
    expect(plain).toMatchObject({
      image: 'docker.io/library/alpine:3.19',
      report: 'reports/alpine.json',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
      ignoreErrors: true,
      toolingImage: expect.objectContaining({ ref: 'docker.io/library/debian:12-slim' }),
      scanner: 'native',
    });
  });

  it("leaves BuildKit's and buildx's own keys alone", () => {
    const o = parseFrontendOptions({
      'build-arg:image': 'nginx',
      'build-arg:BUILDKIT_SYNTAX': 'ghcr.io/x/copa-frontend',
      'build-arg:HTTP_PROXY': 'http://proxy:3128',
      filename: 'Dockerfile',
      'context:report': 'local:report',
      'image-resolve-mode': 'default',
      'multi-platform': 'true',
      'attest:sbom': '',
      'no-cache': '',
    });
    expect(o.image).toBe('docker.io/library/nginx:latest');
    expect(o.warnings).toEqual([]);
  });

  it('warns about likely misspellings', () => {
    const o = parseFrontendOptions({ image: 'nginx', 'build-arg:ignore_errors': 'true', 'build-arg:ignoreErrors': '1', 'build-arg:reprot': 'r.json' });
    expect(o.ignoreErrors).toBe(false);
    expect(o.warnings).toEqual([
      'option "build-arg:ignore_errors" is not a copa option and is ignored; did you mean ignore-errors?',
      'option "build-arg:ignoreErrors" is not a copa option and is ignored; did you mean ignore-errors?',
      'option "build-arg:reprot" is not a copa option and is ignored; did you mean report?',
    ]);
  });

  it('image is required', () => {
    expect(inputError(() => parseFrontendOptions({})).message).toBe('option image is required: the image to patch');
    expect(inputError(() => parseFrontendOptions({ 'build-arg:image': '  ' })).message).toBe('option image is required: the image to patch');
  });

  it('bad values name the option and what it accepts', () => {
    expect(inputError(() => parseFrontendOptions({ image: 'Nginx' })).message).toContain('option image "Nginx" is not a valid image reference');
    expect(inputError(() => parseFrontendOptions({ image: 'nginx', scanner: 'grype' })).message).toBe(
      'option scanner="grype" is not valid: accepted values are trivy (Trivy JSON) and native (copa update manifest v1alpha1/v1alpha2)',
    );
    expect(inputError(() => parseFrontendOptions({ image: 'nginx', 'build-arg:ignore-errors': 'sure' })).message).toContain('option ignore-errors="sure"');
    expect(inputError(() => parseFrontendOptions({ image: 'nginx', platform: 'windows/amd64' })).message).toContain('option platform="windows/amd64"');
    expect(inputError(() => parseFrontendOptions({ image: 'nginx', 'tooling-image': 'a b' })).message).toContain('option tooling-image "a b"');
    expect(inputError(() => parseFrontendOptions({ image: 'nginx', report: 'a\nb' })).message).toContain('option report="a\\nb"');
  });

  it('the same option twice with different values is an error; the same value is fine', () => {
    expect(inputError(() => parseFrontendOptions({ image: 'nginx:1', 'build-arg:image': 'nginx:2' })).message).toBe(
      'option image is given twice with different values: image="nginx:1" and build-arg:image="nginx:2"',
    );
    expect(parseFrontendOptions({ image: 'nginx:1', 'build-arg:image': 'nginx:1' }).image).toBe('docker.io/library/nginx:1');
  });

  it('an empty value is an error; only an absent option is unset (issue: report= upgraded everything)', () => {
    for (const key of ['report', 'tooling-image', 'platform', 'ignore-errors', 'scanner']) {
      for (const v of ['', '  ', '\t']) {
        for (const k of [key, `build-arg:${key}`]) {
          const e = inputError(() => parseFrontendOptions({ image: 'nginx', [k]: v }));
          expect(e.message).toBe(`option ${key} is empty`);
          expect(e.hint).toBeTruthy();
        }
      }
    }
    expect(inputError(() => parseFrontendOptions({ image: 'nginx', report: '' })).hint).toContain('leave the option out to update every package');
    const o = parseFrontendOptions({ image: 'nginx' });
    expect(o.report).toBeUndefined();
    expect(o.toolingImage).toBeUndefined();
    expect(o.platforms).toEqual([]);
  });

  it('inherited object keys are not options', () => {
    const opts = Object.create({ image: 'inherited' }) as Record<string, string>;
    expect(() => parseFrontendOptions(opts)).toThrow(/option image is required/);
    expect(parseFrontendOptions({ image: 'nginx', constructor: 'x', __proto__: 'y' } as Record<string, string>).image).toBe('docker.io/library/nginx:latest');
  });
});
