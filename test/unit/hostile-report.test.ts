// Generated hostile reports, in each format copa reads (Trivy SchemaVersion 2, update
// manifests v1alpha1 and v1alpha2): shell metacharacters, option-like names, control bytes,
// NUL, huge strings, deep nesting and wrong types. Each must end in a CopaError('report') that
// names the file and the JSON path, and nothing unsafe may come back in a PatchReport (its
// names and versions are what reaches apt-get's argv).
import { describe, expect, it } from 'vitest';
import { CopaError } from '../../src/engine/errors.js';
import { MAX_REPORT_BYTES, parseReport, type PatchReport } from '../../src/engine/report/index.js';
import { escapeControls, hasControlChars, sanitizeTerminal } from '../../src/engine/text.js';
import { formatSummary } from '../../src/plugin/progress/summary.js';

const SOURCE = 'hostile/report.json';
type Format = 'trivy' | 'v1alpha1' | 'v1alpha2';
const FORMATS: Format[] = ['trivy', 'v1alpha1', 'v1alpha2'];

interface Fields {
  name: unknown;
  installed: unknown;
  fixed: unknown;
  id: unknown;
}

/** One finding in a report of the given format, and the JSON path of each field. */
function report(format: Format, f: Fields, meta: { osName?: unknown; artifact?: unknown } = {}): { doc: object; paths: Record<keyof Fields, string> } {
  if (format === 'trivy') {
    return {
      doc: {
        SchemaVersion: 2,
        ArtifactName: meta.artifact ?? 'registry.example/debian:12',
        Metadata: { OS: { Family: 'debian', Name: meta.osName ?? '12.5' }, ImageConfig: { architecture: 'amd64' } },
        Results: [{ Target: 'x', Class: 'os-pkgs', Type: 'debian', Vulnerabilities: [{ VulnerabilityID: f.id, PkgName: f.name, InstalledVersion: f.installed, FixedVersion: f.fixed }] }],
      },
      paths: {
        name: 'Results[0].Vulnerabilities[0].PkgName',
        installed: 'Results[0].Vulnerabilities[0].InstalledVersion',
        fixed: 'Results[0].Vulnerabilities[0].FixedVersion',
        id: 'Results[0].Vulnerabilities[0].VulnerabilityID',
      },
    };
  }
  const key = format === 'v1alpha1' ? 'updates' : 'osupdates';
  return {
    doc: {
      apiVersion: format,
      metadata: { os: { type: 'debian', version: meta.osName ?? '12.5' }, config: { arch: 'amd64' } },
      [key]: [{ name: f.name, installedVersion: f.installed, fixedVersion: f.fixed, vulnerabilityID: f.id }],
    },
    paths: { name: `${key}[0].name`, installed: `${key}[0].installedVersion`, fixed: `${key}[0].fixedVersion`, id: `${key}[0].vulnerabilityID` },
  };
}

function parse(doc: object | string, format: Format): PatchReport {
  return parseReport(typeof doc === 'string' ? doc : JSON.stringify(doc), { source: SOURCE, scanner: format === 'trivy' ? 'trivy' : 'native' });
}

function rejects(fn: () => unknown, path: string | RegExp): CopaError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a CopaError').toBeInstanceOf(CopaError);
  const e = err as CopaError;
  expect(e.category).toBe('report');
  expect(e.message).toContain(SOURCE);
  if (typeof path === 'string') expect(e.message).toContain(path);
  else expect(e.message).toMatch(path);
  // The message itself is inert: no raw control character of the payload survives in it.
  expect(hasControlChars(e.message.replace(/\n/g, ' '))).toBe(false);
  return e;
}

// Every value a report could smuggle into a command line or a terminal.
const HOSTILE: Array<[string, string]> = [
  ['semicolon', 'openssl;rm -rf /'],
  ['command substitution', 'openssl$(id)'],
  ['backticks', 'openssl`id`'],
  ['pipe', 'openssl|sh'],
  ['and-and', 'openssl&&reboot'],
  ['option -rf', '-rf'],
  ['option --allow-untrusted', '--allow-untrusted'],
  ['option with value', '--option=Dpkg::Options::=--force-all'],
  ['newline', 'openssl\nrm'],
  ['carriage return', 'openssl\rpushed registry/evil:latest'],
  ['ESC clear screen', '\x1b[2J\x1b[Hopenssl'],
  ['OSC title', '\x1b]0;owned\x07openssl'],
  ['C1 CSI', 'openssl\u009b2J'],
  ['NUL', 'openssl\u0000rm'],
  ['bidi override', 'openssl\u202e'],
  ['space', 'open ssl'],
  ['glob', 'openssl*'],
  ['path', '../../bin/sh'],
  ['huge', 'a'.repeat(200_000)],
  ['non-ASCII look-alike', 'оpenssl'],
];

const GOOD: Fields = { name: 'openssl', installed: '3.0.11-1~deb12u2', fixed: '3.0.13-1~deb12u1', id: 'CVE-2024-0727' };

describe('hostile values in every field that reaches a package manager', () => {
  for (const format of FORMATS) {
    for (const field of ['name', 'installed', 'fixed', 'id'] as const) {
      for (const [label, value] of HOSTILE) {
        it(`${format}: ${field} = ${label}`, () => {
          const { doc, paths } = report(format, { ...GOOD, [field]: value });
          rejects(() => parse(doc, format), paths[field]);
        });
      }
    }
  }

  it('the good finding itself parses (so the rejections above are about the hostile value)', () => {
    for (const format of FORMATS) {
      const r = parse(report(format, GOOD).doc, format);
      expect(r.updates).toEqual([{ name: 'openssl', installedVersion: '3.0.11-1~deb12u2', fixedVersion: '3.0.13-1~deb12u1', vulnerabilityIds: ['CVE-2024-0727'] }]);
    }
  });

  it('a hostile item in a comma-separated fixed version list is rejected with its item number', () => {
    for (const format of FORMATS) {
      const { doc, paths } = report(format, { ...GOOD, fixed: '3.0.13-1~deb12u1, 3.1;id' });
      const e = rejects(() => parse(doc, format), paths.fixed);
      expect(e.message).toMatch(/item 2 of 2/);
    }
  });
});

describe('wrong types', () => {
  const WRONG: Array<[string, unknown]> = [
    ['a number', 42],
    ['an object', { $gt: '' }],
    ['an array', ['openssl']],
    ['true', true],
  ];
  for (const format of FORMATS) {
    for (const [label, value] of WRONG) {
      it(`${format}: package name is ${label}`, () => {
        const { doc, paths } = report(format, { ...GOOD, name: value });
        rejects(() => parse(doc, format), paths.name);
      });
    }
    it(`${format}: the findings list is a string`, () => {
      const key = format === 'trivy' ? 'Results' : format === 'v1alpha1' ? 'updates' : 'osupdates';
      const { doc } = report(format, GOOD);
      rejects(() => parse({ ...doc, [key]: 'rm -rf /' }, format), key);
    });
  }
  it('trivy: Vulnerabilities is an object, a result is a number', () => {
    const { doc } = report('trivy', GOOD);
    const d = doc as { Results: Array<Record<string, unknown>> };
    rejects(() => parse({ ...d, Results: [{ ...d.Results[0], Vulnerabilities: { PkgName: 'x' } }] }, 'trivy'), 'Results[0].Vulnerabilities');
    rejects(() => parse({ ...d, Results: [7] }, 'trivy'), 'Results[0]');
  });
});

describe('deep nesting and size', () => {
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

  it('100k nested arrays as the whole document: a clear error, not a stack overflow', () => {
    for (const format of FORMATS) rejects(() => parse(deep(100_000), format), /JSON array/);
  });

  it('100k nested arrays where the findings go, and in an ignored field', () => {
    for (const format of FORMATS) {
      const key = format === 'trivy' ? 'Results' : format === 'v1alpha1' ? 'updates' : 'osupdates';
      const { doc } = report(format, GOOD);
      const text = JSON.stringify({ ...doc, [key]: '@@' }).replace('"@@"', deep(100_000));
      rejects(() => parse(text, format), `${key}[0]`);
      // Unknown fields are ignored, however deep.
      const ignored = JSON.stringify({ ...doc, Extra: '@@' }).replace('"@@"', deep(100_000));
      expect(parse(ignored, format).updates.map((u) => u.name)).toEqual(['openssl']);
    }
  });

  it('100k nested arrays that are not closed: a located syntax error', () => {
    rejects(() => parse('['.repeat(100_000), 'trivy'), /not valid JSON: .*line 1, column 100001/);
  });

  it('a report over the size limit is refused before parsing', () => {
    const big = Buffer.alloc(MAX_REPORT_BYTES + 1, 0x20);
    rejects(() => parseReport(big, { source: SOURCE, scanner: 'trivy' }), /bytes/);
  });

  it('NUL bytes and binary data: not text', () => {
    rejects(() => parseReport(Buffer.from([0x7b, 0x00, 0xff, 0xfe, 0x80]), { source: SOURCE, scanner: 'trivy' }), /not UTF-8 text/);
  });
});

describe('free-text fields are made inert, with a warning naming the file and field', () => {
  const NASTY = '12.5\x1b[2J\x1b[H\rpushed registry.example/evil:latest\u009b\u202e';
  for (const format of FORMATS) {
    it(`${format}: OS name/version`, () => {
      const { doc } = report(format, GOOD, { osName: NASTY });
      const r = parse(doc, format);
      expect(hasControlChars(r.os!.version)).toBe(false);
      expect(r.os!.version).toBe(escapeControls(NASTY));
      expect(r.os!.version).toContain('\\e[2J');
      const path = format === 'trivy' ? 'Metadata.OS.Name' : 'metadata.os.version';
      expect(r.warnings?.some((w) => w.includes(SOURCE) && w.includes(path) && /control characters/.test(w))).toBe(true);
      for (const w of r.warnings!) expect(hasControlChars(w)).toBe(false);
    });
  }

  it('trivy: ArtifactName, and a huge one is shortened', () => {
    const r = parse(report('trivy', GOOD, { artifact: 'debian:12\x1b]8;;http://evil\x07' }).doc, 'trivy');
    expect(hasControlChars(r.artifactName!)).toBe(false);
    expect(r.warnings!.join('\n')).toMatch(/ArtifactName contains control characters/);
    const huge = parse(report('trivy', GOOD, { artifact: 'x'.repeat(1_000_000) }).doc, 'trivy');
    expect(huge.artifactName!.length).toBeLessThanOrEqual(512);
    expect(huge.warnings!.join('\n')).toMatch(/ArtifactName is 1000000 characters long/);
  });

  it('a clean report has no warnings field', () => {
    expect(parse(report('trivy', GOOD).doc, 'trivy').warnings).toBeUndefined();
  });
});

describe('escaping helpers', () => {
  it('escapeControls makes every control and format character visible', () => {
    expect(escapeControls('a\x1b[2Jb\rc\nd\te\u0000f\u009bg\u202eh')).toBe('a\\e[2Jb\\rc\\nd\\te\\x00f\\x9bg\\u202eh');
    expect(escapeControls('plain ümlaut 漢字')).toBe('plain ümlaut 漢字');
  });
  it('sanitizeTerminal removes sequences and blanks the rest: no line can be overwritten', () => {
    const s = sanitizeTerminal('\x1b[31mred\x1b[0m\x1b]0;title\x07 x\rpushed\x1b[2K\u009b2J\x1bc');
    expect(hasControlChars(s)).toBe(false);
    expect(s).toBe('red x pushed');
  });
});

describe('a very large valid report', () => {
  it('700k findings under the size limit parse and summarise (no spread of huge arrays)', () => {
    const N = 700_000;
    const parts: string[] = [];
    for (let i = 0; i < N; i++) parts.push(`{"VulnerabilityID":"C-${i}","PkgName":"p${i}","InstalledVersion":"1","FixedVersion":"2"}`);
    const text = `{"SchemaVersion":2,"Metadata":{"OS":{"Family":"debian","Name":"12"}},"Results":[{"Class":"os-pkgs","Type":"debian","Vulnerabilities":[${parts.join(',')}]}]}`;
    expect(Buffer.byteLength(text)).toBeLessThan(MAX_REPORT_BYTES);
    const r = parseReport(text, { source: SOURCE, scanner: 'trivy' });
    expect(r.updates.length).toBe(N);
    const table = formatSummary(
      r.updates.map((u) => ({ name: u.name, status: 'patched' as const, installedVersion: u.installedVersion, finalVersion: u.fixedVersion, vulnerabilityIds: u.vulnerabilityIds })),
      { width: 100 },
    );
    expect(table).toContain(`${N} patched, 0 already fixed, 0 not patched, 0 not installed`);
  }, 120_000);
});
