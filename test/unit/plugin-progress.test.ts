import { describe, expect, it } from 'vitest';
import {
  createProgress,
  formatPlan,
  formatSummary,
  PlainDisplay,
  resolveMode,
  toSolveStatusJson,
  TtyDisplay,
  type StatusResponse,
} from '../../src/plugin/progress/index.js';
import { formatBytes, stripAnsi } from '../../src/plugin/progress/format.js';

const T0 = Date.parse('2024-05-01T10:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000);
const text = (s: string) => new TextEncoder().encode(s);

class Sink {
  out = '';
  isTTY = false;
  columns = 80;
  rows = 12;
  write(s: string) {
    this.out += s;
    return true;
  }
}

const A = 'sha256:aaaa';
const B = 'sha256:bbbb';
const C = 'sha256:cccc';
const D = 'sha256:dddd';

/** A small solve: metadata, an install step with logs and a download, a cached step, a failing step. */
function stream(): StatusResponse[] {
  return [
    { vertexes: [{ digest: A, name: '[internal] load metadata for docker.io/library/debian:12', inputs: [] }] }, // queued: not shown
    { vertexes: [{ digest: A, name: '[internal] load metadata for docker.io/library/debian:12', started: at(0) }] },
    { vertexes: [{ digest: A, name: '[internal] load metadata for docker.io/library/debian:12', started: at(0), completed: at(0.5) }] },
    {
      vertexes: [
        { digest: B, name: 'apt-get install openssl', started: at(1), inputs: [A] },
        { digest: C, name: 'resolve tooling image', started: at(1), completed: at(1), cached: true },
      ],
    },
    { logs: [{ vertex: B, stream: 1, timestamp: at(1.215), msg: text('Reading package lists...\nBuilding dep') }] },
    { logs: [{ vertex: B, stream: 1, timestamp: at(1.3), msg: text('endency tree\n') }] },
    { statuses: [{ ID: 'sha256:0123456789ab', vertex: B, current: 1_048_576, total: 3_145_728, started: at(1), timestamp: at(1.4) }] },
    // +1% and 0.1 s later: throttled away
    { statuses: [{ ID: 'sha256:0123456789ab', vertex: B, current: 1_080_000, total: 3_145_728, started: at(1), timestamp: at(1.5) }] },
    { vertexes: [{ digest: D, name: 'validate', started: at(2) }] },
    { warnings: [{ vertex: D, level: 1, short: text('package foo is held back'), detail: [text('see apt-mark')], url: 'https://example.com/held' }] },
    { statuses: [{ ID: 'sha256:0123456789ab', vertex: B, current: 3_145_728, total: 3_145_728, started: at(1), timestamp: at(2.1), completed: at(2.1) }] },
    { vertexes: [{ digest: B, name: 'apt-get install openssl', started: at(1), completed: at(3.2) }] },
    { logs: [{ vertex: D, stream: 2, timestamp: at(12.5), msg: text('E: version mismatch') }] },
    { vertexes: [{ digest: D, name: 'validate', started: at(2), completed: at(13), error: 'process "/bin/sh -c check" did not complete successfully: exit code: 1' }] },
  ];
}

const GOLDEN = `#1 [internal] load metadata for docker.io/library/debian:12
#1 DONE 0.5s

#3 resolve tooling image
#3 CACHED

#2 apt-get install openssl
#2 0.215 Reading package lists...
#2 0.215 Building dependency tree
#2 sha256:0123456789ab 1.05MB / 3.15MB 0.4s
#2 ...

#4 validate
#4 WARN: package foo is held back
#4   see apt-mark
#4   More info: https://example.com/held
#4 ...

#2 apt-get install openssl
#2 sha256:0123456789ab 3.15MB / 3.15MB 1.1s done
#2 DONE 2.2s

#4 validate
#4 10.50 E: version mismatch
#4 ERROR: process "/bin/sh -c check" did not complete successfully: exit code: 1
------
 > validate:
E: version mismatch
------
`;

describe('plain progress', () => {
  it('prints like buildx --progress=plain', () => {
    const sink = new Sink();
    const p = new PlainDisplay(sink);
    for (const u of stream()) p.update(u);
    p.done();
    expect(sink.out).toBe(GOLDEN);
  });

  it('prints CANCELED, our own lines, and partial lines at the end', () => {
    const sink = new Sink();
    const p = new PlainDisplay(sink);
    p.update({ vertexes: [{ digest: A, name: 'step', started: at(0) }] });
    p.update({ logs: [{ vertex: A, timestamp: at(0.001), msg: text('no newline') }] });
    p.log('copa: note');
    p.update({ vertexes: [{ digest: A, name: 'step', started: at(0), completed: at(1), error: 'context canceled' }] });
    p.done();
    expect(sink.out).toBe('#1 step\n#1 0.001 no newline\n#1 ...\ncopa: note\n\n#1 step\n#1 CANCELED\n');
  });

  it('accepts Long-like and bigint counters and strips control characters', () => {
    const sink = new Sink();
    const p = new PlainDisplay(sink);
    p.update({ vertexes: [{ digest: A, name: 'x\x1b[31m', started: at(0) }] });
    p.update({ statuses: [{ ID: 'pull', vertex: A, current: { toNumber: () => 2000 }, total: 4000n, started: at(0), timestamp: at(1) }] });
    expect(sink.out).toBe('#1 x\n#1 pull 2.00kB / 4.00kB 1.0s\n');
  });
});

describe('tty progress', () => {
  it('redraws a collapsed live view within the terminal size', () => {
    const sink = new Sink();
    sink.isTTY = true;
    sink.columns = 60;
    sink.rows = 8;
    let now = T0 + 100; // local clock
    const t = new TtyDisplay(sink, { manual: true, now: () => now, color: false, phase: 'Patching' });
    const updates = stream();
    for (const u of updates.slice(0, 8)) t.update(u);
    now = T0 + 1800;
    t.render();
    // The last frame: everything after the last cursor-up.
    const frames = sink.out.split(/\x1b\[\d+A/);
    const last = stripAnsi(frames[frames.length - 1]!).split('\n').map((l) => l.replace(/^\r/, '')).filter(Boolean);
    expect(last[0]).toMatch(/^\[\+\] Patching 1\.7s \(2\/3\)$/);
    expect(last.some((l) => /^ => \[internal\] load metadata .* 0\.5s$/.test(l.trimEnd()))).toBe(true);
    expect(last.some((l) => /^ [⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] apt-get install openssl +0\.7s$/.test(l))).toBe(true);
    expect(last.some((l) => /^ => => sha256:0123456789ab +1\.08MB \/ 3\.15MB 0\.5s$/.test(l))).toBe(true);
    expect(last.some((l) => l.startsWith(' => => # Building dependency tree'))).toBe(true);
    for (const l of last) expect(l.length).toBeLessThan(60);
    expect(last.length).toBeLessThanOrEqual(8);

    for (const u of updates.slice(8)) t.update(u);
    t.done();
    expect(sink.out).toContain('\x1b[?25h'); // cursor restored
    const end = stripAnsi(sink.out);
    expect(end).toMatch(/FINISHED/);
    expect(end).toMatch(/ERROR validate/);
    expect(end).toMatch(/------\n > validate:\nE: version mismatch\n------\n$/);
  });

  it('prints our own lines above the view', () => {
    const sink = new Sink();
    sink.isTTY = true;
    const t = new TtyDisplay(sink, { manual: true, color: false });
    t.update({ vertexes: [{ digest: A, name: 'step', started: new Date() }] });
    t.log('hello');
    t.done();
    expect(stripAnsi(sink.out)).toContain('hello\n');
  });
});

describe('rawjson and modes', () => {
  it('writes Go SolveStatus JSON, one update a line', () => {
    const sink = new Sink();
    const p = createProgress('rawjson', { stream: sink as never });
    p.update({
      vertexes: [{ digest: A, name: 'n', started: at(0), inputs: [] }],
      statuses: [{ ID: 'x', vertex: A, current: 5, total: 0, timestamp: at(1) }],
      logs: [{ vertex: A, stream: 1, timestamp: at(1), msg: text('hi') }],
      warnings: [{ vertex: A, level: 1, short: text('w'), detail: [], url: '' }],
    });
    p.log('ignored');
    const lines = sink.out.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({
      vertexes: [{ digest: A, name: 'n', started: '2024-05-01T10:00:00.000Z' }],
      statuses: [{ id: 'x', vertex: A, current: 5, timestamp: '2024-05-01T10:00:01.000Z' }],
      logs: [{ vertex: A, stream: 1, data: 'aGk=', timestamp: '2024-05-01T10:00:01.000Z' }],
      warnings: [{ vertex: A, level: 1, short: 'dw==' }],
    });
    expect(toSolveStatusJson({})).toEqual({});
  });

  it('resolves auto by TTY and refuses tty without one', () => {
    expect(resolveMode('auto', { isTTY: true }, {})).toBe('tty');
    expect(resolveMode('auto', { isTTY: false }, {})).toBe('plain');
    expect(resolveMode('auto', { isTTY: true }, { TERM: 'dumb' })).toBe('plain');
    expect(createProgress('auto', { stream: new Sink() as never }).mode).toBe('plain');
    expect(createProgress('quiet', { stream: new Sink() as never }).mode).toBe('quiet');
    expect(() => createProgress('tty', { stream: new Sink() as never })).toThrow(/needs a terminal/);
  });

  it('formats bytes like BuildKit', () => {
    expect(formatBytes(512)).toBe('512B');
    expect(formatBytes(1536)).toBe('1.54kB');
    expect(formatBytes(3_145_728)).toBe('3.15MB');
  });
});

describe('plan and summary', () => {
  it('draws the plan box', () => {
    expect(formatPlan([{ label: 'image', value: 'docker.io/library/nginx:1.27' }, { label: 'patched', value: 'nginx:1.27-patched' }, 'report: 3 packages'], { width: 60 })).toBe(
      `+- Patch plan --------------------------+
| image    docker.io/library/nginx:1.27 |
| patched  nginx:1.27-patched           |
| report: 3 packages                    |
+---------------------------------------+
`,
    );
    const u = formatPlan(['x'], { unicode: true, width: 40 });
    expect(u.split('\n')[0]).toMatch(/^╭─ Patch plan ─+╮$/);
    for (const l of formatPlan(['y'.repeat(200)], { width: 50 }).trim().split('\n')) expect(l.length).toBeLessThanOrEqual(50);
  });

  it('tabulates packages by status', () => {
    const s = formatSummary(
      [
        { name: 'zlib1g', status: 'not-installed', vulnerabilityIds: ['CVE-2023-1'] },
        { name: 'openssl', status: 'patched', installedVersion: '3.0.11-1~deb12u1', finalVersion: '3.0.15-1~deb12u1', vulnerabilityIds: ['CVE-2024-1', 'CVE-2024-2'] },
        { name: 'libc6', status: 'already-fixed', installedVersion: '2.36-9+deb12u9', vulnerabilityIds: ['CVE-2024-3'] },
        { name: 'curl', status: 'not-patched', installedVersion: '7.88.1-10', requiredVersion: '7.88.1-10+deb12u8', vulnerabilityIds: ['CVE-2024-4'], reason: 'no candidate in the repositories' },
      ],
      { width: 120 },
    );
    expect(s).toBe(
      `PACKAGE  STATUS         INSTALLED         NOW                        VULNERABILITIES
openssl  patched        3.0.11-1~deb12u1  3.0.15-1~deb12u1           CVE-2024-1, CVE-2024-2
curl     NOT PATCHED    7.88.1-10         (needs 7.88.1-10+deb12u8)  CVE-2024-4
    no candidate in the repositories
libc6    already fixed  2.36-9+deb12u9    -                          CVE-2024-3
zlib1g   not installed  -                 -                          CVE-2023-1

1 patched, 1 already fixed, 1 not patched, 1 not installed
`,
    );
    expect(formatSummary([])).toBe('No packages needed an update.\n');
    const many = formatSummary([{ name: 'p', status: 'patched', finalVersion: '2', installedVersion: '1', vulnerabilityIds: Array.from({ length: 40 }, (_, i) => `CVE-2024-${1000 + i}`) }], { width: 80 });
    expect(many).toMatch(/CVE-2024-1000, .* \+\d+ more\n/);
  });
});
