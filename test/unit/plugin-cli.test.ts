import { describe, expect, it } from 'vitest';
import { completions, parseCommandLine, parseGoDuration, parsePatchArgs, patchHelp, rootHelp, UsageError, VALID_PLATFORMS } from '../../src/plugin/cli.js';

function usage(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return e as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('parseGoDuration', () => {
  it('parses Go durations into milliseconds', () => {
    expect(parseGoDuration('5m')).toBe(300_000);
    expect(parseGoDuration('90s')).toBe(90_000);
    expect(parseGoDuration('1h30m')).toBe(5_400_000);
    expect(parseGoDuration('1.5h')).toBe(5_400_000);
    expect(parseGoDuration('250ms')).toBe(250);
    expect(parseGoDuration('2m3.5s')).toBe(123_500);
    expect(parseGoDuration('0')).toBe(0);
  });
  it('rejects what Go rejects', () => {
    for (const bad of ['', '5', 'm', '5x', '1h 30m', '-5m', 'abc', '.s']) expect(parseGoDuration(bad), bad).toBeNull();
  });
});

describe('parsePatchArgs', () => {
  it('applies Copacetic defaults', () => {
    const c = parsePatchArgs(['-i', 'nginx:1.27']);
    expect(c).toMatchObject({
      image: 'nginx:1.27',
      tagSuffix: 'patched',
      target: { ref: 'docker.io/library/nginx:1.27-patched' },
      timeout: '5m',
      timeoutMs: 300_000,
      ignoreErrors: false,
      format: 'openvex',
      push: false,
      platforms: [],
      loader: '',
      progress: 'auto',
      debug: false,
      scanner: 'trivy',
      compression: 'uncompressed',
      forceCompression: false,
      tls: {},
      warnings: [],
    });
    expect(c.report).toBeUndefined();
    expect(c.addr).toBeUndefined();
  });

  it('parses every flag', () => {
    const c = parsePatchArgs([
      '--image=ghcr.io/o/app:1',
      '-r', 'report.json',
      '-t', '1-fixed',
      '--tag-suffix', 'x',
      '-a', 'tcp://127.0.0.1:1234',
      '--cacert', 'ca.pem', '--cert', 'c.pem', '--key', 'k.pem',
      '--timeout', '1h30m',
      '--ignore-errors',
      '-f', 'openvex',
      '-o', 'vex.json',
      '--platform', 'linux/amd64,linux/arm64', '--platform', 'linux/arm/v7', '--platform', 'linux/amd64',
      '--loader', 'podman',
      '--progress', 'plain',
      '--debug',
      '--scanner', 'native',
      '--tooling-image', 'debian:12-slim',
      '--frontend-image', 'ghcr.io/o/copa-frontend:1',
      '--compression', 'zstd',
      '--force-compression',
    ]);
    expect(c).toMatchObject({
      image: 'ghcr.io/o/app:1',
      report: 'report.json',
      tag: '1-fixed',
      target: { ref: 'ghcr.io/o/app:1-fixed' },
      addr: 'tcp://127.0.0.1:1234',
      tls: { cacert: 'ca.pem', cert: 'c.pem', key: 'k.pem' },
      timeoutMs: 5_400_000,
      ignoreErrors: true,
      output: 'vex.json',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
        { os: 'linux', architecture: 'arm', variant: 'v7' },
      ],
      loader: 'podman',
      progress: 'plain',
      debug: true,
      scanner: 'native',
      toolingImage: 'debian:12-slim',
      frontendImage: 'ghcr.io/o/copa-frontend:1',
      compression: 'zstd',
      forceCompression: true,
    });
  });

  it('accepts short flag clusters, = forms and --flag=false', () => {
    expect(parsePatchArgs(['-pi', 'nginx:1']).push).toBe(true);
    expect(parsePatchArgs(['-i=nginx:1', '--push=false']).push).toBe(false);
    expect(parsePatchArgs(['-i', 'a:1', '-i', 'b:2']).image).toBe('b:2'); // last one wins
    expect(parsePatchArgs(['-i', 'nginx:1', '--loader', '']).loader).toBe('');
  });

  it('requires --image', () => {
    expect(usage(() => parsePatchArgs([])).message).toMatch(/-i\/--image is missing/);
    expect(usage(() => parsePatchArgs(['-r', 'x.json'])).command).toBe('patch');
  });

  it('names the flag and the accepted values for bad values', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--progress', 'fancy'], /--progress: accepted values are auto, tty, plain, rawjson, quiet/],
      [['--loader', 'containerd'], /--loader: accepted values are docker, podman, ""/],
      [['--format', 'csaf'], /--format: accepted values are openvex/],
      [['--scanner', 'grype'], /--scanner: accepted values are trivy, native/],
      [['--compression', 'lz4'], /--compression: accepted values are uncompressed, gzip, zstd, estargz/],
      [['--platform', 'linux/mips'], /--platform: accepted values are linux\/386, linux\/amd64/],
      [['--platform', 'windows/amd64'], /"windows\/amd64"/],
      [['--timeout', '5'], /--timeout: use a duration such as 90s, 5m or 1h30m/],
      [['--timeout', '0s'], /longer than zero/],
    ];
    for (const [extra, re] of cases) expect(usage(() => parsePatchArgs(['-i', 'nginx:1', ...extra])).message, extra.join(' ')).toMatch(re);
  });

  it('rejects unknown flags, missing values and stray arguments', () => {
    expect(usage(() => parsePatchArgs(['-i', 'x:1', '--bogus'])).message).toBe('unknown flag: --bogus');
    expect(usage(() => parsePatchArgs(['-i', 'x:1', '--no-push'])).message).toBe('unknown flag: --no-push');
    expect(usage(() => parsePatchArgs(['-i', 'x:1', '-z'])).message).toBe("unknown shorthand flag: 'z' in -z");
    expect(usage(() => parsePatchArgs(['-i'])).message).toBe("flag needs an argument: 'i' in -i");
    expect(usage(() => parsePatchArgs(['-i', 'x:1', '--report'])).message).toBe('flag needs an argument: --report');
    const e = usage(() => parsePatchArgs(['nginx:1']));
    expect(e.message).toBe('unexpected argument "nginx:1"');
    expect(e.hint).toMatch(/-i\/--image/);
    expect(usage(() => parsePatchArgs(['-i', 'x:1', '--tagsuffix', 'a'])).hint).toMatch(/--tag-suffix/);
  });

  it('checks flag combinations', () => {
    expect(usage(() => parsePatchArgs(['-i', 'x:1', '--push', '--oci-dir', 'out'])).message).toMatch(/--oci-dir and --push/);
    expect(usage(() => parsePatchArgs(['-i', 'x:1', '--cert', 'c.pem'])).message).toMatch(/--cert and --key/);
    const c = parsePatchArgs(['-i', 'x:1', '-o', 'vex.json']);
    expect(c.output).toBeUndefined();
    expect(c.warnings.join('\n')).toMatch(/--output is ignored without --report/);
  });

  it('reports bad image references and tags', () => {
    expect(() => parsePatchArgs(['-i', 'UPPER:1'])).toThrow(/lowercase/);
    expect(() => parsePatchArgs(['-i', `x@sha256:${'a'.repeat(64)}`])).toThrow(/no tag/);
  });
});

describe('parseCommandLine', () => {
  it('answers --help, --version and help forms', () => {
    expect(parseCommandLine([])).toMatchObject({ kind: 'help' });
    expect(parseCommandLine(['--help'])).toMatchObject({ kind: 'help' });
    expect(parseCommandLine(['--version'])).toMatchObject({ kind: 'version', text: expect.stringMatching(/version/) });
    expect(parseCommandLine(['-v'])).toMatchObject({ kind: 'version' });
    expect(parseCommandLine(['version'])).toMatchObject({ kind: 'version' });
    const h = parseCommandLine(['patch', '-i', 'bad image', '--help']);
    expect(h.kind).toBe('help');
    if (h.kind === 'help') expect(h.text).toContain('Usage:  docker copa patch [OPTIONS]');
    const h2 = parseCommandLine(['help', 'patch'], { prog: 'docker-copa' });
    if (h2.kind === 'help') expect(h2.text).toContain('Usage:  docker-copa patch [OPTIONS]');
  });

  it('runs patch with root --debug or docker -D', () => {
    const a = parseCommandLine(['--debug', 'patch', '-i', 'x:1']);
    expect(a.kind === 'patch' && a.command.debug).toBe(true);
    const b = parseCommandLine(['patch', '-i', 'x:1'], { debug: true });
    expect(b.kind === 'patch' && b.command.debug).toBe(true);
  });

  it('rejects unknown commands with a suggestion', () => {
    const e = usage(() => parseCommandLine(['pach']));
    expect(e.message).toMatch(/unknown command "pach"/);
    expect(e.hint).toMatch(/patch/);
    expect(e.format()).toMatch(/^docker copa: unknown command[\s\S]*Run 'docker copa --help' for more information\n$/);
  });
});

describe('help text', () => {
  it('is docker-style and lists every flag', () => {
    const h = patchHelp('docker copa', 100);
    expect(h.startsWith('\nUsage:  docker copa patch [OPTIONS]\n')).toBe(true);
    for (const f of ['-a, --addr string', '-i, --image string', '-r, --report string', '-t, --tag string', '--tag-suffix string', '--cacert string', '--cert string', '--key string', '--timeout duration', '--ignore-errors', '-f, --format string', '-o, --output string', '-p, --push', '--oci-dir string', '--platform strings', '-l, --loader string', '--progress string', '--debug', '-s, --scanner string', '--tooling-image string', '--frontend-image string', '--compression string', '--force-compression', '-h, --help']) {
      expect(h, f).toContain(f);
    }
    expect(h).toContain('(default "5m")');
    expect(h).toContain('(default "patched")');
    for (const line of h.split('\n')) expect(line.length, line).toBeLessThanOrEqual(100);
    expect(rootHelp('docker copa', 100)).toContain('Usage:  docker copa [OPTIONS] COMMAND');
    expect(VALID_PLATFORMS).toContain('linux/riscv64');
  });
});

describe('completions', () => {
  it('completes commands, flags and flag values in cobra format', () => {
    expect(completions(['pa'])).toBe("patch\tPatch an image's OS packages\n:4\n");
    expect(completions(['patch', '--progress', 'r'])).toBe('rawjson\n:4\n');
    expect(completions(['patch', '--oci-dir', ''])).toBe(':16\n');
    expect(completions(['patch', '-r', ''])).toBe(':0\n');
    expect(completions(['patch', '--tag-s']).split('\n')[0]).toMatch(/^--tag-suffix\t/);
  });
});
