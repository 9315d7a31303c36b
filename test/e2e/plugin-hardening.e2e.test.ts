// Hostile input and interrupts against the real test bed: a FIFO as report, a VEX path that
// cannot be written with --push (must fail before anything is pushed), and SIGINT / SIGTERM
// while apt runs inside BuildKit (the build is cancelled, nothing is pushed, exit 130 / 143).
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { testbed, registryRef, run } from '../env/testbed.js';
import { reportDir, trivyReport } from './support/reports.js';
import { dockerCopa, dockerEnv, installPlugin, pluginBinary } from './support/plugin.js';
import { buildImage } from './support/images.js';

const POINT = () => registryRef('debian:12-pointrelease');
const tag = (what: string) => `12-hardening-${what}-${randomBytes(4).toString('hex')}`;
let work: string;

/** HTTP status of the registry's manifest for debian:<t> (404: it was never pushed). */
async function manifestStatus(t: string, repo = 'debian'): Promise<string> {
  const r = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json', `http://${testbed().registry}/v2/${repo}/manifests/${t}`]);
  return r.stdout.trim();
}

beforeAll(() => {
  expect(existsSync(pluginBinary), 'npm run build makes build/docker-copa').toBe(true);
  installPlugin();
  work = mkdtempSync(join(tmpdir(), 'copa-hardening-e2e-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('docker copa refuses bad local input before any build', () => {
  it('a FIFO as report: a clear error quickly, exit 1, no build', async () => {
    const fifo = join(work, 'report.json');
    execFileSync('mkfifo', [fifo]);
    const t0 = Date.now();
    const r = await dockerCopa(['patch', '-i', POINT(), '-r', fifo, '-t', tag('fifo'), '--addr', testbed().buildkitAddr, '--progress', 'plain']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/report invalid: report ".*report\.json" is a FIFO \(named pipe\), not a regular file/);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.stderr).not.toMatch(/copa patch plan|#1 /); // BuildKit was never asked to build
  });

  it('an unwritable VEX path with --push fails before pushing', async () => {
    const report = join(reportDir(trivyReport({ family: 'debian', name: '12' }, [{ name: 'openssl', installed: '3.0.0-1', fixed: '3.0.1-1' }])), 'report.json');
    const t = tag('vex');
    const r = await dockerCopa(['patch', '-i', POINT(), '-r', report, '-t', t, '--push', '-o', '/nonexistent/vex.json', '--addr', testbed().buildkitAddr, '--progress', 'plain']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/cannot write the VEX document into "\/nonexistent": the directory does not exist/);
    expect(r.stderr).not.toMatch(/pushed/);
    expect(await manifestStatus(t)).toBe('404');
  });
});

/**
 * Starts a full patch (no report: apt upgrades everything), sends `signal` once apt runs. The
 * image is made unique first, so BuildKit cannot answer the apt step from its cache.
 */
async function interruptMidApt(signal: NodeJS.Signals, t: string): Promise<{ code: number | null; stderr: string; sawApt: boolean }> {
  const image = await buildImage(`${t}-input`, `FROM ${POINT()}\nRUN echo ${t} > /etc/copa-interrupt-test\n`, 'hardening-input');
  return new Promise((resolve, reject) => {
    const child = spawn(pluginBinary, ['patch', '-i', image, '-t', t, '--push', '--addr', testbed().buildkitAddr, '--progress', 'plain'], {
      env: { ...process.env, ...dockerEnv() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let sent = false;
    child.stdout.resume();
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // The plain progress prints a step's header when it starts: "#7 copa: apt-get upgrade (all packages)".
      if (!sent && /^#\d+ copa: apt-get (upgrade|install)/m.test(stderr)) {
        sent = true;
        setTimeout(() => child.kill(signal), 500);
      }
    });
    const guard = setTimeout(() => {
      if (!sent) {
        sent = true;
        child.kill(signal);
      }
    }, 240_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(guard);
      resolve({ code, stderr, sawApt: /^#\d+ copa: apt-get (upgrade|install)/m.test(stderr) });
    });
  });
}

describe('interrupts cancel the build: nothing is pushed', () => {
  it('SIGINT while apt runs: exit 130, says interrupted, no tag in the registry', async () => {
    const t = tag('sigint');
    const r = await interruptMidApt('SIGINT', t);
    expect(r.sawApt, r.stderr).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/interrupted \(SIGINT\): the build was cancelled; nothing was pushed, loaded or written/);
    expect(r.stderr).not.toMatch(/invalid input|^pushed /m);
    expect(await manifestStatus(`${t}-input`, 'hardening-input')).toBe('200'); // the input is there, the output is not
    expect(await manifestStatus(t, 'hardening-input')).toBe('404');
  });

  it('SIGTERM while apt runs: exit 143, no tag in the registry', async () => {
    const t = tag('sigterm');
    const r = await interruptMidApt('SIGTERM', t);
    expect(r.sawApt, r.stderr).toBe(true);
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toMatch(/terminated \(SIGTERM\): the build was cancelled/);
    expect(r.stderr).not.toMatch(/^pushed /m);
    expect(await manifestStatus(t, 'hardening-input')).toBe('404');
  });
});
