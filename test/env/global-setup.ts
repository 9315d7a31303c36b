// vitest globalSetup of the e2e project: makes sure the test bed is up and
// registers this run as an owner of it. Vitest runs a project's globalSetup
// only when that project has selected test files, so `vitest run test/unit`
// never raises the bed.
//
// Ownership rather than "did I start it": several runs (or engineers) may
// share one bed; it goes down when the last owner releases it or dies (a
// watchdog notices a killed run), and never if a plain `testbed.sh up` raised it.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { testbedCacheDir } from './testbed.js';

const SCRIPT = fileURLToPath(new URL('./testbed.sh', import.meta.url));
const say = (msg: string) => process.stderr.write(`[copa-testbed] ${msg}\n`);

function testbedSh(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    // stdout too goes to stderr: vitest's reporter owns stdout.
    const child = spawn('bash', [SCRIPT, ...args], { stdio: ['ignore', process.stderr, process.stderr] });
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

export default async function setup(): Promise<() => Promise<void>> {
  // Workers inherit this, so every test file reads the same env.json.
  process.env.COPA_TESTBED_CACHE = testbedCacheDir();
  const t0 = Date.now();
  say(`test bed start at ${new Date(t0).toISOString()} (cache ${process.env.COPA_TESTBED_CACHE}); a cold start builds buildkit, buildx and Debian images and takes several minutes`);
  const code = await testbedSh(['up', '--owner-pid', String(process.pid)]);
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (code !== 0) throw new Error(`testbed.sh up failed (exit ${code}) after ${secs}s; see the logs in ${process.env.COPA_TESTBED_CACHE}/run/logs`);
  say(`test bed ready in ${secs}s`);
  return async () => {
    const t1 = Date.now();
    const c = await testbedSh(['release', String(process.pid)]);
    say(`test bed released (exit ${c}) in ${((Date.now() - t1) / 1000).toFixed(1)}s`);
  };
}
