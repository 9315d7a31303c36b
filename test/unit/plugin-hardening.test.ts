// Fault injection on the plugin without a test bed: signals and --timeout against a BuildKit
// that never answers (the built executable), timers longer than setTimeout allows, output
// paths checked before a build, report/repository mismatch warnings, and progress printers
// that must not let BuildKit or process text steer the terminal.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CopaError } from '../../src/engine/errors.js';
import { hasControlChars } from '../../src/engine/text.js';
import { Interrupted, withAbort } from '../../src/plugin/interrupt.js';
import { longTimeout, MAX_TIMER_MS } from '../../src/plugin/timer.js';
import { checkWritableDir, fsErrorCategory } from '../../src/plugin/outputs/writable.js';
import { checkVexDestination } from '../../src/plugin/vex.js';
import { checkOciDirDestination } from '../../src/plugin/outputs/oci-dir.js';
import { artifactWarnings as artifactWarningsOf } from '../../src/engine/report-target.js';
import { parseImageRef } from '../../src/engine/imageref.js';
const artifactWarnings = (image: string, reports: Array<{ report: PatchReport; file: string }>) => artifactWarningsOf(parseImageRef(image), reports);
import { PlainDisplay } from '../../src/plugin/progress/plain.js';
import { TtyDisplay } from '../../src/plugin/progress/tty.js';
import { formatPlan, formatSummary } from '../../src/plugin/progress/summary.js';
import type { PatchReport } from '../../src/engine/report/index.js';

const exe = join(import.meta.dirname, '..', '..', 'build', 'docker-copa');
const work = mkdtempSync(join(tmpdir(), 'copa-hardening-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

class Sink {
  out = '';
  write(s: string) {
    this.out += s;
    return true;
  }
}
const text = (s: string) => new TextEncoder().encode(s);
const at = (s: number) => new Date(Date.UTC(2025, 0, 1) + s * 1000);

describe('longTimeout', () => {
  it('a delay beyond 2^31-1 ms (e.g. --timeout 600h) does not fire at once', async () => {
    let fired = false;
    const t = longTimeout(() => (fired = true), 600 * 3600 * 1000);
    await new Promise((r) => setTimeout(r, 50));
    expect(fired).toBe(false);
    t.clear();
  });

  it('fires at the deadline, waiting in chunks', () => {
    let clock = 0;
    const scheduled: Array<{ fn: () => void; ms: number }> = [];
    const real = globalThis.setTimeout;
    // Drive the chunks by hand: each chunk is at most MAX_TIMER_MS.
    (globalThis as { setTimeout: unknown }).setTimeout = ((fn: () => void, ms: number) => {
      scheduled.push({ fn, ms });
      return { unref() {} } as NodeJS.Timeout;
    }) as unknown;
    try {
      let fired = 0;
      const total = 3 * MAX_TIMER_MS + 5;
      longTimeout(() => fired++, total, () => clock);
      while (scheduled.length) {
        const s = scheduled.shift()!;
        expect(s.ms).toBeLessThanOrEqual(MAX_TIMER_MS);
        expect(fired).toBe(0);
        clock += s.ms;
        s.fn();
      }
      expect(fired).toBe(1);
      expect(clock).toBe(total);
    } finally {
      (globalThis as { setTimeout: unknown }).setTimeout = real;
    }
  });
});

describe('interrupts', () => {
  it('SIGINT exits 130, SIGTERM 143, --timeout 1; the category is not "input"', () => {
    expect(new Interrupted('SIGINT', 'x').exitCode).toBe(130);
    expect(new Interrupted('SIGTERM', 'x').exitCode).toBe(143);
    expect(new Interrupted('timeout', 'x').exitCode).toBe(1);
    expect(new Interrupted('SIGINT', 'x').category).toBe('interrupted');
    expect(new Interrupted('SIGTERM', 'x').message).toBe('terminated (SIGTERM): x');
  });

  it('withAbort rejects at once with the signal reason', async () => {
    const ac = new AbortController();
    const never = new Promise<never>(() => {});
    const p = withAbort(never, ac.signal);
    ac.abort(new Interrupted('SIGTERM', 'stop'));
    await expect(p).rejects.toMatchObject({ category: 'interrupted', exitCode: 143 });
  });
});

describe('the built executable against a BuildKit that never answers', () => {
  let server: net.Server;
  let addr = '';
  const sockets: net.Socket[] = [];
  beforeAll(async () => {
    server = net.createServer((s) => {
      sockets.push(s);
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    addr = `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  afterAll(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });

  function patch(extra: string[], signal?: NodeJS.Signals, afterMs = 1500): Promise<{ code: number | null; err: string; ms: number }> {
    return new Promise((resolve) => {
      const t0 = Date.now();
      const child = spawn(exe, ['patch', '-i', 'registry.invalid/x:1', '--addr', addr, '--progress', 'plain', ...extra], {
        env: { ...process.env, DOCKER_CONFIG: work, DOCKER_HOST: 'unix:///nonexistent.sock' },
      });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      // Signal once the plugin is connected (its handlers are in place by then; a fixed delay
      // races the executable's start-up on a loaded machine), or after afterMs at the latest.
      if (signal) {
        const before = sockets.length;
        const send = () => child.kill(signal);
        const started = Date.now();
        const poll = setInterval(() => {
          if (sockets.length > before || Date.now() - started > afterMs + 20_000) {
            clearInterval(poll);
            setTimeout(send, 300);
          }
        }, 50);
        child.on('close', () => clearInterval(poll));
      }
      const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('close', (code) => {
        clearTimeout(kill);
        resolve({ code, err, ms: Date.now() - t0 });
      });
    });
  }

  it.skipIf(!existsSync(exe))('SIGINT: exit 130, says interrupted, not "invalid input"', async () => {
    const r = await patch([], 'SIGINT');
    expect(r.code, r.err).toBe(130);
    expect(r.err).toMatch(/interrupted \(SIGINT\): the build was cancelled; nothing was pushed, loaded or written/);
    expect(r.err).not.toMatch(/invalid input/);
    expect(r.ms).toBeLessThan(10_000);
  }, 40_000);

  it.skipIf(!existsSync(exe))('SIGTERM: exit 143', async () => {
    const r = await patch([], 'SIGTERM');
    expect(r.code, r.err).toBe(143);
    expect(r.err).toMatch(/terminated \(SIGTERM\)/);
  }, 40_000);

  it.skipIf(!existsSync(exe))('--timeout 1s: exit 1, timed out; --timeout 700h does not fire at once', async () => {
    const t = await patch(['--timeout', '1s']);
    expect(t.code, t.err).toBe(1);
    expect(t.err).toMatch(/timed out: the patch exceeded the --timeout of 1s/);
    const long = await patch(['--timeout', '700h'], 'SIGINT', 2500);
    expect(long.code, long.err).toBe(130);
    expect(long.err).not.toMatch(/timed out/);
  }, 60_000);

  it.skipIf(!existsSync(exe))('a FIFO as report: a clear error at once, before BuildKit is contacted', async () => {
    const fifo = join(work, 'report.fifo');
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [fifo]);
    const before = sockets.length;
    const r = await patch(['-r', fifo]);
    expect(r.code, r.err).toBe(1);
    expect(r.err).toMatch(/report invalid: report ".*report\.fifo" is a FIFO \(named pipe\), not a regular file/);
    expect(r.ms).toBeLessThan(10_000);
    expect(sockets.length).toBe(before);
  }, 40_000);

  it.skipIf(!existsSync(exe))('an unwritable VEX path fails before BuildKit is contacted', async () => {
    const report = join(work, 'r.json');
    writeFileSync(report, JSON.stringify({ SchemaVersion: 2, Metadata: { OS: { Family: 'debian', Name: '12' } }, Results: [] }));
    const before = sockets.length;
    const r = await patch(['-r', report, '--push', '-o', '/nonexistent/vex.json']);
    expect(r.code, r.err).toBe(1);
    expect(r.err).toMatch(/invalid input: cannot write the VEX document into "\/nonexistent": the directory does not exist/);
    const d = await patch(['-r', report, '--push', '-o', work]);
    expect(d.err).toMatch(/cannot write the VEX document ".*": it is a directory/);
    expect(sockets.length).toBe(before);
  }, 40_000);
});

describe('output destinations are checked before the build', () => {
  it('VEX: missing directory, a directory as target, a read-only directory', async () => {
    await expect(checkVexDestination('/nonexistent/vex.json')).rejects.toThrow(/the directory does not exist/);
    await expect(checkVexDestination(work)).rejects.toThrow(/it is a directory/);
    await expect(checkVexDestination(join(work, 'vex.json'))).resolves.toBeUndefined();
    if (process.getuid?.() !== 0) {
      const ro = join(work, 'ro');
      mkdirSync(ro);
      chmodSync(ro, 0o555);
      await expect(checkVexDestination(join(ro, 'vex.json'))).rejects.toThrow(/permission denied/);
    }
    // A read-only file system (procfs) refuses even root.
    await expect(checkVexDestination('/proc/vex.json')).rejects.toThrow(CopaError);
  });

  it('--oci-dir: the parent must be creatable and writable', async () => {
    await expect(checkOciDirDestination('/proc/copa-layout')).rejects.toThrow(/cannot write the OCI layout into "\/proc"/);
    const file = join(work, 'plainfile');
    writeFileSync(file, 'x');
    await expect(checkOciDirDestination(join(file, 'layout'))).rejects.toThrow(/cannot write the OCI layout to .*not a directory/);
    expect(await checkOciDirDestination(join(work, 'new', 'deeper', 'layout'))).toBe('create');
  });

  it('a full disk is a system error, not invalid input', async () => {
    expect(fsErrorCategory(Object.assign(new Error('no space'), { code: 'ENOSPC' }))).toBe('system');
    expect(fsErrorCategory(Object.assign(new Error('denied'), { code: 'EACCES' }))).toBe('input');
    await expect(checkWritableDir(work, 'x', { mayCreate: false })).resolves.toBeUndefined();
  });
});

describe('the report names another image', () => {
  const rep = (artifactName?: string): { report: PatchReport; file: string } => ({
    file: 'r.json',
    report: { os: null, updates: [], ignored: { langPkgs: 0, unfixed: 0 }, format: 'trivy', ...(artifactName ? { artifactName } : {}) },
  });
  it('warns for another repository, not for another tag or no name', () => {
    expect(artifactWarnings('docker.io/library/nginx:1.27-patched', [rep('nginx:1.27')])).toEqual([]);
    expect(artifactWarnings('nginx:1.27', [rep('docker.io/library/nginx@sha256:' + 'a'.repeat(64))])).toEqual([]);
    expect(artifactWarnings('nginx:1.27', [rep()])).toEqual([]);
    expect(artifactWarnings('nginx:1.27', [rep('./image.tar')])).toEqual([]);
    const w = artifactWarnings('registry.example/debian:12', [rep('docker.io/library/alpine:3.20')]);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/r\.json is a report for docker\.io\/library\/alpine, but the image being patched is registry\.example\/debian/);
  });
});

describe('progress printers keep foreign text inert', () => {
  const A = 'sha256:aaaa';
  const FAKE = 'apt-get\r\x1b[2K\npushed registry.example/evil:latest\x1b]0;owned\x07\u009b2J';

  it('plain: vertex names, logs, warnings, errors and our own lines cannot forge a line', () => {
    const sink = new Sink();
    const p = new PlainDisplay(sink);
    p.update({ vertexes: [{ digest: A, name: FAKE, started: at(0) }] });
    // A log line is split at its newlines (each a line of the process, prefixed "#1 <offset>");
    // within a line, CR and ESC must not overwrite or clear anything.
    p.update({ logs: [{ vertex: A, timestamp: at(0.1), msg: text(`\x1b[31mcolour\x1b[0m ${FAKE.replace('\n', '')}\n`) }] });
    p.update({ warnings: [{ vertex: A, short: text(FAKE), detail: [text(FAKE)], url: `http://x/${FAKE}` }] });
    p.log(`copa: ${FAKE}`);
    p.update({ vertexes: [{ digest: A, name: FAKE, started: at(0), completed: at(1), error: FAKE }] });
    p.done();
    const lines = sink.out.split('\n');
    for (const l of lines) {
      expect(hasControlChars(l), JSON.stringify(l)).toBe(false);
      expect(l.startsWith('pushed')).toBe(false);
    }
    expect(sink.out).toContain('colour');
  });

  it('tty: only our own sequences reach the terminal', () => {
    const sink = Object.assign(new Sink(), { columns: 200, rows: 30, isTTY: true });
    const p = new TtyDisplay(sink, { manual: true });
    p.update({ vertexes: [{ digest: A, name: FAKE, started: at(0) }] });
    p.update({ logs: [{ vertex: A, timestamp: at(0.1), msg: text(`${FAKE.replace('\n', '')}\n`) }] });
    p.log(FAKE);
    p.done();
    expect(sink.out).not.toMatch(/\x1b\]|\u009b|\x1b\[2J|owned\x07/);
    for (const l of sink.out.split('\n')) expect(l.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/^\r/, '').startsWith('pushed')).toBe(false);
  });

  it('plan box and summary table', () => {
    const out = formatPlan([{ label: 'image', value: FAKE }]) + formatSummary([{ name: FAKE, status: 'not-patched', vulnerabilityIds: [FAKE], reason: FAKE, requiredVersion: FAKE }]);
    for (const l of out.split('\n')) expect(hasControlChars(l)).toBe(false);
  });
});
