// Opening the user's report (src/plugin/reports.ts): anything that is not a regular file is
// refused quickly with a message naming the path (a FIFO used to block open() forever,
// /dev/zero was read until memory ran out), and the byte cap counts bytes actually read.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CopaError } from '../../src/engine/errors.js';
import { MAX_REPORT_BYTES } from '../../src/engine/report/index.js';
import { loadReports, readReportFile } from '../../src/plugin/reports.js';

const dir = mkdtempSync(join(tmpdir(), 'copa-reports-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = JSON.stringify({ SchemaVersion: 2, Metadata: { OS: { Family: 'debian', Name: '12' }, ImageConfig: { architecture: 'amd64' } }, Results: [] });

function refused(fn: () => unknown, re: RegExp): CopaError {
  const t0 = Date.now();
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(Date.now() - t0, 'refused quickly').toBeLessThan(2000);
  expect(err).toBeInstanceOf(CopaError);
  expect((err as CopaError).category).toBe('report');
  expect((err as CopaError).message).toMatch(re);
  return err as CopaError;
}

describe('loadReports refuses what is not a report file', () => {
  it('a FIFO: does not block, says FIFO', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    refused(() => loadReports(fifo, 'trivy'), /fifo" is a FIFO \(named pipe\), not a regular file/);
  });

  it('/dev/zero and /dev/urandom: character devices, nothing read', () => {
    refused(() => loadReports('/dev/zero', 'trivy'), /"\/dev\/zero" is a character device/);
    refused(() => loadReports('/dev/urandom', 'trivy'), /"\/dev\/urandom" is a character device/);
  });

  it('a unix socket', async () => {
    const sock = join(dir, 'sock');
    const srv = net.createServer().listen(sock);
    await new Promise((r) => srv.once('listening', r));
    try {
      refused(() => loadReports(sock, 'trivy'), /sock" is a socket/);
    } finally {
      srv.close();
    }
  });

  it('a symlink loop, a missing file, an empty or blank path', () => {
    const loop = join(dir, 'loop');
    symlinkSync(loop, loop);
    refused(() => loadReports(loop, 'trivy'), /loop" cannot be opened: too many levels of symbolic links/);
    refused(() => loadReports(join(dir, 'missing.json'), 'trivy'), /missing\.json" does not exist/);
    refused(() => loadReports('', 'trivy'), /report path is empty/);
    refused(() => loadReports('   ', 'trivy'), /report path is empty/);
  });

  it('an unreadable file (when not running as root)', () => {
    if (process.getuid?.() === 0) return; // root reads anything
    const f = join(dir, 'secret.json');
    writeFileSync(f, GOOD);
    chmodSync(f, 0);
    refused(() => loadReports(f, 'trivy'), /secret\.json" cannot be read: permission denied/);
  });

  it('in a report directory: a directory named *.json and a FIFO named *.json', () => {
    const d = join(dir, 'reports');
    mkdirSync(d);
    writeFileSync(join(d, 'a.json'), GOOD);
    mkdirSync(join(d, 'b.json'));
    refused(() => loadReports(d, 'trivy'), /b\.json" is a directory, not a regular file/);
    rmSync(join(d, 'b.json'), { recursive: true });
    execFileSync('mkfifo', [join(d, 'c.json')]);
    refused(() => loadReports(d, 'trivy'), /c\.json" is a FIFO/);
  });

  it('caps the bytes actually read, not st_size', () => {
    const f = join(dir, 'big.json');
    writeFileSync(f, Buffer.alloc(MAX_REPORT_BYTES + 10, 0x20));
    refused(() => readReportFile(f), /larger than 67108864 bytes/);
    // /proc files report size 0 but have content: they are read (and parsed) normally.
    expect(readReportFile('/proc/self/status').length).toBeGreaterThan(0);
  });

  it('still reads a regular report and a symlink to one', () => {
    const f = join(dir, 'ok.json');
    writeFileSync(f, GOOD);
    symlinkSync(f, join(dir, 'link.json'));
    expect(loadReports(f, 'trivy')[0]!.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(loadReports(join(dir, 'link.json'), 'trivy')[0]!.report.os).toEqual({ family: 'debian', version: '12' });
  });
});
